// RELIABILITY 9: an import writer, a chat writer and several readers on the same library at
// once, each on its own connection, for a few seconds: no "database is locked" (or any
// other error) reaches them, and every write is there afterwards.
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "docstore/search.h"
#include "docstore/store.h"
#include "store_test_util.h"

using namespace folio;
using namespace folio::docstore;
using folio::docstore::testing::Filler;
using folio::docstore::testing::MakeDocument;

namespace {

class ErrorLog {
 public:
  void Note(const char* who, const Status& s) {
    if (s.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(std::string(who) + ": " + s.message());
  }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_;
};

std::unique_ptr<Library> OpenOrNote(const std::string& path, const char* who, ErrorLog* log) {
  auto lib = Library::Open(path);
  log->Note(who, lib.status());
  return lib.ok() ? std::move(lib).value() : nullptr;
}

}  // namespace

class TestStoreConcurrency : public QObject {
  Q_OBJECT
 private slots:
  void importChatAndReadersNeverSeeLockedErrors() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("busy.sqlite").toStdString();
    QVERIFY(Library::Open(path).ok());  // created (and migrated) once up front
    ErrorLog log;
    std::atomic<bool> stop{false};
    std::atomic<int> stored{0}, messages{0}, reads{0};
    int64_t conversation = 0;

    std::thread importer([&] {
      auto lib = OpenOrNote(path, "import", &log);
      if (!lib) return;
      std::mt19937 rng(1);
      for (int i = 0; !stop; ++i) {
        std::vector<std::string> pages;
        for (int p = 0; p < 8; ++p)
          pages.push_back(Filler(rng, 150) + " harbour" + std::to_string(i));
        // Every third document replaces an earlier path: deletes run under load too.
        const std::string file = "/docs/" + std::to_string(i % 3 == 2 ? i - 1 : i) + ".txt";
        auto r = lib->StoreDocument(MakeDocument(file, "Doc " + std::to_string(i), pages));
        log.Note("import", r.status());
        if (r.ok()) ++stored;
      }
    });
    std::thread chat([&] {
      auto lib = OpenOrNote(path, "chat", &log);
      if (!lib) return;
      auto conv = lib->CreateConversation("busy chat", {});
      log.Note("chat", conv.status());
      if (!conv.ok()) return;
      conversation = *conv;
      for (int i = 0; !stop; ++i) {
        auto m =
            lib->AppendMessage(*conv, i % 2 ? "assistant" : "user", "message " + std::to_string(i),
                               R"({"turn":)" + std::to_string(i) + "}");
        log.Note("chat", m.status());
        if (m.ok()) ++messages;
      }
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
      readers.emplace_back([&, r] {
        auto lib = OpenOrNote(path, "reader", &log);
        if (!lib) return;
        while (!stop) {
          auto docs = lib->ListDocuments();
          log.Note("reader", docs.status());
          auto hits = Search(*lib, r == 0 ? "harbour lorem" : "ipsum dolor", {});
          log.Note("reader", hits.status());
          if (docs.ok() && !docs->empty()) {
            auto chunks = lib->GetChunks(docs->back().id);
            log.Note("reader", chunks.status());
          }
          ++reads;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(4));
    stop = true;
    importer.join();
    chat.join();
    for (auto& t : readers) t.join();

    const auto errors = log.errors();
    QVERIFY2(errors.empty(), errors.empty() ? "" : errors.front().c_str());
    qInfo("stored %d documents, %d messages, %d read rounds", stored.load(), messages.load(),
          reads.load());
    QVERIFY(stored > 0);
    QVERIFY(messages > 0);
    QVERIFY(reads > 0);
    auto lib = Library::Open(path);
    QVERIFY(lib.ok());
    QCOMPARE(static_cast<int>((*lib)->ListMessages(conversation)->size()), messages.load());
    QVERIFY((*lib)->CheckIntegrity().ok());
  }
};

QTEST_GUILESS_MAIN(TestStoreConcurrency)
#include "test_store_concurrency.moc"
