// The CUDA module loader (engine/cuda_loader.h) on any machine: with a GPU and the module
// the backend opens and runs; without either, opening fails cleanly with Unsupported and a
// message that names the way out (--device cpu), and the CPU backend is unaffected.
#include <QtTest>

#include "engine/cpu_backend.h"
#include "engine/cuda_loader.h"
#include "engine/session.h"

using namespace folio;

namespace {
std::string Fixture(const char* model) {
  return std::string(FOLIO_FIXTURES_DIR) + "/" + model;
}
}  // namespace

class TestCudaLoader : public QObject {
  Q_OBJECT
 private slots:
  void opensOnTheGpuOrExplainsWhyNot() {
    const std::string why = CudaUnavailable();
    CudaBackendOptions o;
    o.planned_context = 128;
    auto backend = OpenCudaBackend(Fixture("jamba-tiny"), o);
    if (!why.empty()) {
      QVERIFY(!backend.ok());
      QCOMPARE(backend.status().code(), ErrorCode::kUnsupported);
      QVERIFY2(why.find("use --device cpu") != std::string::npos, why.c_str());
      QCOMPARE(backend.status().message(), why);
      return;
    }
    QVERIFY2(backend.ok(), backend.status().message().c_str());
    QCOMPARE(backend.value()->name(), std::string("cuda"));
    auto session = Session::Create(*backend.value(), {128, 16});
    QVERIFY(session.ok());
    const std::vector<int64_t> ids = {1, 5, 9};
    QVERIFY(session.value()->Append(ids).ok());
    QCOMPARE(int64_t(session.value()->last_logits().size()), backend.value()->config().vocab_size);
  }

  void cpuStillRunsAfterACudaAttempt() {
    (void)OpenCudaBackend(Fixture("jamba-tiny"), CudaBackendOptions{});
    auto cpu = CpuBackend::Open(Fixture("jamba-tiny"));
    QVERIFY(cpu.ok());
    auto session = Session::Create(*cpu.value(), {64, 16});
    QVERIFY(session.ok());
    const std::vector<int64_t> ids = {1, 5, 9};
    QVERIFY(session.value()->Append(ids).ok());
    QVERIFY(!session.value()->last_logits().empty());
  }
};

QTEST_GUILESS_MAIN(TestCudaLoader)
#include "test_cuda_loader.moc"
