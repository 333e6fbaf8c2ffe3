// safetensors loading: the fixtures read back their known bytes, every malformation of
// RELIABILITY.md 12-15 is refused with the file and tensor named, misaligned data reads
// correctly, a file truncated after mapping is reported, and nothing is allocated at
// the size a header claims.
#include <QtTest>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#include "engine/safetensors.h"
#include "loader_test_util.h"

using namespace folio;
using namespace folio::testing;

// Largest single allocation while g_track is set: proves a claimed size never becomes a
// buffer size.
static std::atomic<bool> g_track{false};
static std::atomic<size_t> g_largest{0};

void* operator new(size_t n) {
  if (g_track.load(std::memory_order_relaxed)) {
    size_t prev = g_largest.load();
    while (n > prev && !g_largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace {

uint32_t F32Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

uint16_t RawU16(const TensorView& v, int64_t i) {
  uint16_t u;
  std::memcpy(&u, v.data + 2 * i, 2);
  return u;
}

int64_t RawI64(const TensorView& v, int64_t i) {
  int64_t x;
  std::memcpy(&x, v.data + 8 * i, 8);
  return x;
}

const char* kTwoTensors = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";

// Rows for badHeaderIsRejectedNamingFileAndTensor: header text, data bytes, expected
// error code, and a phrase the message must contain. (Outside the class: moc cannot
// parse some raw strings.)
void AddBadHeaderRows() {
  QTest::addColumn<QByteArray>("header");
  QTest::addColumn<int>("dataBytes");
  QTest::addColumn<int>("code");
  QTest::addColumn<QString>("mention");
  const int kCorrupt = static_cast<int>(ErrorCode::kCorrupt);
  auto one = [](const char* dtype, const char* shape, const char* offsets) {
    return QByteArray(R"({"t":{"dtype":")") + dtype + R"(","shape":)" + shape +
           R"(,"data_offsets":)" + offsets + "}}";
  };
  QTest::newRow("not UTF-8") << QByteArray("{\"t\xff\":{}}") << 0 << kCorrupt << "not UTF-8";
  QTest::newRow("overlong UTF-8") << QByteArray("{\"t\xc0\xaf\":{}}") << 0 << kCorrupt
                                  << "not UTF-8";
  QTest::newRow("not JSON") << QByteArray(R"({"t": {"dtype")") << 0 << kCorrupt << "JSON";
  QTest::newRow("not an object") << QByteArray("[1, 2]") << 0 << kCorrupt << "object";
  QTest::newRow("duplicate key") << QByteArray(
                                        R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                        R"("t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})")
                                 << 4 << kCorrupt << "duplicate key 't'";
  QTest::newRow("unknown dtype") << one("Q7", "[1]", "[0,4]") << 4 << kCorrupt
                                 << "unknown dtype 'Q7'";
  QTest::newRow("unsupported dtype")
      << one("F64", "[1]", "[0,8]") << 8 << static_cast<int>(ErrorCode::kUnsupported) << "'t'";
  QTest::newRow("offsets reversed")
      << one("F32", "[1]", "[4,0]") << 4 << kCorrupt << "'t': data_offsets reversed";
  QTest::newRow("offsets past end")
      << one("F32", "[2]", "[0,8]") << 4 << kCorrupt << "'t': data_offsets end 8 is past the end";
  QTest::newRow("overlapping") << QByteArray(
                                      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                      R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})")
                               << 8 << kCorrupt << "'t' overlaps tensor 'a'";
  QTest::newRow("hole between") << QByteArray(
                                       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                       R"("t":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})")
                                << 12 << kCorrupt << "'t' leaves a hole of 4 bytes";
  QTest::newRow("hole at start") << one("F32", "[1]", "[4,8]") << 8 << kCorrupt
                                 << "'t' leaves a hole";
  QTest::newRow("hole at end") << one("F32", "[1]", "[0,4]") << 12 << kCorrupt
                               << "8 bytes at the end";
  QTest::newRow("shape product overflows") << one("F32", "[4294967296,4294967296,2]", "[0,4]") << 4
                                           << kCorrupt << "'t': shape product overflows";
  QTest::newRow("byte size overflows")
      << one("F32", "[4611686018427387904]", "[0,4]") << 4 << kCorrupt << "'t': byte size";
  QTest::newRow("dim over int64") << one("F32", "[9223372036854775808]", "[0,4]") << 4 << kCorrupt
                                  << "'t': shape";
  QTest::newRow("negative dim") << one("F32", "[-1]", "[0,4]") << 4 << kCorrupt << "'t': shape";
  QTest::newRow("fractional dim") << one("F32", "[1.5]", "[0,4]") << 4 << kCorrupt << "'t': shape";
  QTest::newRow("dtype x shape != length")
      << one("F32", "[3]", "[0,8]") << 8 << kCorrupt << "'t': F32 x [3] needs 12 bytes";
  QTest::newRow("missing offsets")
      << QByteArray(R"({"t":{"dtype":"F32","shape":[1]}})") << 4 << kCorrupt << "'t'";
  QTest::newRow("metadata not strings")
      << QByteArray(R"({"__metadata__":{"format":1}})") << 0 << kCorrupt << "__metadata__";
  QTest::newRow("entry not an object") << QByteArray(R"({"t": 5})") << 0 << kCorrupt << "'t'";
  QTest::newRow("metadata not an object")
      << QByteArray(R"({"__metadata__": []})") << 0 << kCorrupt << "__metadata__";
  QTest::newRow("rank over 32")
      << one("U8", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,1]")
      << 1 << kCorrupt << "'t': shape has more than 32";
  QTest::newRow("three offsets") << one("F32", "[1]", "[0,4,4]") << 4 << kCorrupt
                                 << "'t': data_offsets must be two";
  QTest::newRow("nested too deep")
      << QByteArray(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],)"
                    R"("extra":[[[[[[[[[[[[1]]]]]]]]]]]]}})")
      << 4 << kCorrupt << "'t': JSON nested too deep";
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;

  std::string Write(const QByteArray& bytes, const QString& name = "bad.safetensors") {
    return WriteBytes(tmp_.path(), name, bytes);
  }

 private slots:
  // ---- The fixtures -------------------------------------------------------------
  void readsJambaTinyWeightsWithKnownValues() {
    auto f = SafetensorsFile::Open(FixturePath("jamba-tiny/model.safetensors").toStdString());
    QVERIFY2(f.ok(), f.status().message().c_str());
    QCOMPARE((*f)->Names().size(), size_t{163});
    auto emb = (*f)->Get("model.embed_tokens.weight");
    QVERIFY(emb.ok());
    QCOMPARE(emb->dtype, DType::kF32);
    QCOMPARE(emb->shape, (std::vector<int64_t>{512, 64}));
    QCOMPARE(emb->nbytes, size_t{512 * 64 * 4});
    QCOMPARE(F32Bits(emb->GetF32(0)), 0xbfc346bau);
    auto a_log = (*f)->Get("model.layers.3.mamba.A_log");
    QVERIFY(a_log.ok());
    QCOMPARE(a_log->shape, (std::vector<int64_t>{128, 8}));
    QCOMPARE(F32Bits(a_log->GetF32(5)), 0x3fbf412bu);
    auto down = (*f)->Get("model.layers.1.feed_forward.experts.3.down_proj.weight");
    QVERIFY(down.ok());
    QCOMPARE(F32Bits(down->GetF32(64 * 96 - 1)), 0x3dbc9047u);
  }

  void readsGoldenI64AndF32() {
    auto f = SafetensorsFile::Open(FixturePath("jamba-tiny/golden.safetensors").toStdString());
    QVERIFY2(f.ok(), f.status().message().c_str());
    auto ids = (*f)->Get("input_ids");
    QVERIFY(ids.ok());
    QCOMPARE(ids->dtype, DType::kI64);
    QCOMPARE(ids->shape, (std::vector<int64_t>{64}));
    QCOMPARE(RawI64(*ids, 0), int64_t{442});
    QCOMPARE(RawI64(*ids, 63), int64_t{108});
    QCOMPARE(ids->GetF32(0), 442.0f);
    auto gen = (*f)->Get("gen_tokens");
    QVERIFY(gen.ok());
    QCOMPARE(RawI64(*gen, 23), int64_t{110});
    auto logits = (*f)->Get("logits");
    QVERIFY(logits.ok());
    QCOMPARE(logits->shape, (std::vector<int64_t>{64, 512}));
    QCOMPARE(F32Bits(logits->GetF32(100)), 0xbe05c157u);
  }

  void readsEveryBf16ShardWithKnownValues() {
    size_t tensors = 0;
    for (int i = 1; i <= 26; ++i) {
      const QString name =
          QString("jamba-tiny-bf16/model-%1-of-00026.safetensors").arg(i, 5, 10, QChar('0'));
      auto f = SafetensorsFile::Open(FixturePath(name).toStdString());
      QVERIFY2(f.ok(), f.status().message().c_str());
      tensors += (*f)->Names().size();
    }
    QCOMPARE(tensors, size_t{211});
    auto f = SafetensorsFile::Open(
        FixturePath("jamba-tiny-bf16/model-00003-of-00026.safetensors").toStdString());
    QVERIFY(f.ok());
    auto norm = (*f)->Get("model.final_layernorm.weight");
    QVERIFY(norm.ok());
    QCOMPARE(norm->dtype, DType::kBF16);
    QCOMPARE(RawU16(*norm, 0), uint16_t{0x3f8a});
    QCOMPARE(RawU16(*norm, 63), uint16_t{0x3fbf});
    QCOMPARE(norm->GetF32(0), 1.078125f);
  }

  void missingTensorIsNotFoundNamingIt() {
    auto f = SafetensorsFile::Open(FixturePath("jamba-tiny/golden.safetensors").toStdString());
    QVERIFY(f.ok());
    auto v = (*f)->Get("no.such.tensor");
    QVERIFY(!v.ok());
    QCOMPARE(v.status().code(), ErrorCode::kNotFound);
    QVERIFY(v.status().message().find("no.such.tensor") != std::string::npos);
  }

  // ---- Writing ------------------------------------------------------------------
  void writtenFileReadsBackWithAlignedHeader() {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<TensorToWrite> ts = {{"w.f32", DType::kF32, {3, 5}, {}},
                                     {"w.bf16", DType::kBF16, {7}, {}},
                                     {"w.f16", DType::kF16, {2, 1, 3}, {}},
                                     {"ids", DType::kI64, {4}, {}},
                                     {"empty", DType::kF32, {0, 4}, {}}};
    for (auto& t : ts) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      t.bytes.resize(static_cast<size_t>(n) * DTypeSize(t.dtype));
      for (auto& b : t.bytes) b = static_cast<uint8_t>(byte(rng));
    }
    const std::string path = tmp_.path().toStdString() + "/written.safetensors";
    QVERIFY(WriteSafetensors(path, ts, {{"format", "pt"}}).ok());
    auto f = SafetensorsFile::Open(path);
    QVERIFY2(f.ok(), f.status().message().c_str());
    QCOMPARE((8 + (*f)->header().header_bytes) % 8, uint64_t{0});
    QCOMPARE((*f)->header().metadata.at("format"), std::string("pt"));
    for (const auto& t : ts) {
      auto v = (*f)->Get(t.name);
      QVERIFY(v.ok());
      QCOMPARE(v->dtype, t.dtype);
      QCOMPARE(v->shape, t.shape);
      QCOMPARE(v->nbytes, t.bytes.size());
      QVERIFY(t.bytes.empty() || std::memcmp(v->data, t.bytes.data(), v->nbytes) == 0);
    }
  }

  void writerRefusesBytesThatDoNotMatchTheShape() {
    const std::string path = tmp_.path().toStdString() + "/refused.safetensors";
    Status s = WriteSafetensors(path, {{"x", DType::kF32, {3}, std::vector<uint8_t>(8)}});
    QCOMPARE(s.code(), ErrorCode::kInvalidArgument);
    QVERIFY(s.message().find("'x'") != std::string::npos);
    QVERIFY(!QFile::exists(QString::fromStdString(path)));
  }

  // ---- RELIABILITY 15: misaligned data ------------------------------------------
  void oddHeaderLengthReadsCorrectValues() {
    // Header padded to an odd length: every tensor's data starts at an odd address.
    QByteArray header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                        R"("h":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
                        R"("i":{"dtype":"I64","shape":[2],"data_offsets":[16,32]}})";
    if (header.size() % 2 == 0) header.append(' ');
    QByteArray data = F32Bytes({1.5f, -2.25f, 3e-5f});
    const uint16_t h[2] = {F32ToBf16(0.75f), F32ToBf16(-8.0f)};
    data.append(reinterpret_cast<const char*>(h), 4);
    const int64_t ids[2] = {-3, int64_t{1} << 40};
    data.append(reinterpret_cast<const char*>(ids), 16);
    auto f = SafetensorsFile::Open(Write(RawSafetensors(header, data), "odd.safetensors"));
    QVERIFY2(f.ok(), f.status().message().c_str());
    QCOMPARE((*f)->header().header_bytes % 2, uint64_t{1});
    auto w = (*f)->Get("w");
    QVERIFY(w.ok());
    QVERIFY(reinterpret_cast<uintptr_t>(w->data) % 2 == 1);
    float out[3];
    w->ToF32(0, 3, out);
    QCOMPARE(out[0], 1.5f);
    QCOMPARE(out[1], -2.25f);
    QCOMPARE(out[2], 3e-5f);
    QCOMPARE(w->GetF32(2), 3e-5f);
    auto hv = (*f)->Get("h");
    QVERIFY(hv.ok());
    float hout[2];
    hv->ToF32(0, 2, hout);
    QCOMPARE(hout[0], 0.75f);
    QCOMPARE(hout[1], -8.0f);
    auto iv = (*f)->Get("i");
    QVERIFY(iv.ok());
    QCOMPARE(RawI64(*iv, 0), int64_t{-3});
    QCOMPARE(RawI64(*iv, 1), int64_t{1} << 40);
  }

  // ---- RELIABILITY 12: the length prefix ------------------------------------------
  void badLengthIsRejectedNamingTheFile_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("mention");
    QTest::newRow("empty file") << QByteArray() << "0 bytes";
    QTest::newRow("7 bytes") << QByteArray("\x01\x00\x00\x00\x00\x00\x00", 7) << "7 bytes";
    QTest::newRow("header length 0") << RawSafetensors("", "abcd") << "header length is 0";
    QTest::newRow("header over 100 MB") << RawSafetensors("{}", {}, (100ull << 20) + 1) << "100 MB";
    QTest::newRow("header past end of file")
        << RawSafetensors(kTwoTensors, QByteArray(12, 0), 5000) << "past the end";
    QTest::newRow("header length 2^62") << RawSafetensors("{}", {}, 1ull << 62) << "100 MB";
    QTest::newRow("header length 2^64-1") << RawSafetensors("{}", {}, ~0ull) << "100 MB";
  }
  void badLengthIsRejectedNamingTheFile() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, mention);
    auto f = SafetensorsFile::Open(Write(bytes));
    QVERIFY(!f.ok());
    QCOMPARE(f.status().code(), ErrorCode::kCorrupt);
    const std::string& m = f.status().message();
    QVERIFY2(m.find("bad.safetensors") != std::string::npos, m.c_str());
    QVERIFY2(m.find(mention.toStdString()) != std::string::npos, m.c_str());
  }

  void claimedHeaderSizeIsNeverAllocated() {
    // A small file whose length prefix claims 99 MB (under the cap, past the end), and
    // direct calls that claim a huge file: rejected, with no allocation near the claim.
    const QByteArray bytes = RawSafetensors(kTwoTensors, QByteArray(12, 0), 99ull << 20);
    const std::string path = Write(bytes, "claims99mb.safetensors");
    g_largest = 0;
    g_track = true;
    auto f = SafetensorsFile::Open(path);
    auto direct = ParseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()),
                                         static_cast<size_t>(bytes.size()), 1ull << 62, "direct");
    g_track = false;
    QVERIFY(!f.ok());
    QCOMPARE(f.status().code(), ErrorCode::kCorrupt);
    QVERIFY(!direct.ok());
    QVERIFY(g_largest > 0);  // the tracking saw the error messages being built
    QVERIFY2(g_largest < (1u << 20), qPrintable(QString::number(g_largest)));
  }

  // ---- RELIABILITY 13 and 14: the header's contents -------------------------------
  void badHeaderIsRejectedNamingFileAndTensor_data() { AddBadHeaderRows(); }
  void badHeaderIsRejectedNamingFileAndTensor() {
    QFETCH(QByteArray, header);
    QFETCH(int, dataBytes);
    QFETCH(int, code);
    QFETCH(QString, mention);
    auto f = SafetensorsFile::Open(Write(RawSafetensors(header, QByteArray(dataBytes, 0))));
    QVERIFY(!f.ok());
    const std::string& m = f.status().message();
    QCOMPARE(static_cast<int>(f.status().code()), code);
    QVERIFY2(m.find("bad.safetensors") != std::string::npos, m.c_str());
    QVERIFY2(m.find(mention.toStdString()) != std::string::npos, m.c_str());
  }

  void unknownEntryFieldsAreIgnored() {
    const QByteArray header =
        R"({"t":{"note":{"a":[1,{"b":null}]},"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    auto f =
        SafetensorsFile::Open(Write(RawSafetensors(header, F32Bytes({2.5f})), "extra.safetensors"));
    QVERIFY2(f.ok(), f.status().message().c_str());
    QCOMPARE((*f)->Get("t")->GetF32(0), 2.5f);
  }

  void emptyHeaderObjectIsAValidEmptyFile() {
    auto f = SafetensorsFile::Open(Write(RawSafetensors("{}      "), "empty.safetensors"));
    QVERIFY2(f.ok(), f.status().message().c_str());
    QVERIFY((*f)->Names().empty());
  }

  void missingFileIsNotFound() {
    auto f = SafetensorsFile::Open(tmp_.path().toStdString() + "/absent.safetensors");
    QCOMPARE(f.status().code(), ErrorCode::kNotFound);
    QVERIFY(f.status().message().find("absent.safetensors") != std::string::npos);
  }

  void directoryIsRefused() {
    auto f = SafetensorsFile::Open(tmp_.path().toStdString());
    QVERIFY(!f.ok());
    QCOMPARE(f.status().code(), ErrorCode::kInvalidArgument);
  }

  // ---- RELIABILITY 18: truncated while mapped -------------------------------------
  void truncatedAfterMappingIsReportedNotFaulted() {
    const std::string path =
        Write(RawSafetensors(kTwoTensors, F32Bytes({1, 2, 3})), "trunc.safetensors");
    auto f = SafetensorsFile::Open(path);
    QVERIFY2(f.ok(), f.status().message().c_str());
    QVERIFY((*f)->StillIntact());
    QVERIFY((*f)->Get("b").ok());
    QVERIFY(::truncate(path.c_str(), 10) == 0);
    QVERIFY(!(*f)->StillIntact());
    auto v = (*f)->Get("b");
    QVERIFY(!v.ok());
    QCOMPARE(v.status().code(), ErrorCode::kIo);
    QVERIFY2(v.status().message().find("trunc.safetensors") != std::string::npos,
             v.status().message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
