// dtype conversions: bf16 and f16 round-trip and round to nearest even.
#include <QtTest>

#include <cmath>

#include "engine/tensor.h"

using namespace folio;

class TestTensor : public QObject {
  Q_OBJECT
 private slots:
  void bf16RoundTripsExactValues() {
    for (float f : {0.0f, 1.0f, -2.5f, 3.140625f, 65536.0f, -1e-3f}) {
      const float back = Bf16ToF32(F32ToBf16(f));
      QVERIFY(std::fabs(back - f) <= std::fabs(f) * (1.0f / 256));
    }
    QCOMPARE(Bf16ToF32(F32ToBf16(1.0f)), 1.0f);
  }
  void bf16RoundsToNearestEven() {
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    QCOMPARE(Bf16ToF32(F32ToBf16(1.0f + 1.0f / 256)), 1.0f);
    QCOMPARE(Bf16ToF32(F32ToBf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  }
  void f16RoundTrips() {
    for (float f : {0.0f, 1.0f, -2.5f, 0.333251953125f, 65504.0f, 6.103515625e-05f, 5.96e-08f}) {
      const float back = F16ToF32(F32ToF16(f));
      QVERIFY2(std::fabs(back - f) <= std::fabs(f) * (1.0f / 1024) + 6e-8f, qPrintable(QString::number(f)));
    }
    QVERIFY(std::isinf(F16ToF32(F32ToF16(1e6f))));
    QVERIFY(std::isnan(F16ToF32(F32ToF16(NAN))));
  }
  void dtypeNamesParse() {
    DType t;
    QVERIFY(ParseDType("BF16", &t));
    QCOMPARE(t, DType::kBF16);
    QVERIFY(!ParseDType("F8_E4M3", &t));
    QCOMPARE(DTypeSize(DType::kI64), size_t{8});
  }
};

QTEST_GUILESS_MAIN(TestTensor)
#include "test_tensor.moc"
