// Storing documents: all or nothing, duplicates recognised, changed files replaced, removal
// complete, disk full rolled back with the store still usable.
#include <QTemporaryDir>
#include <QtTest>

#include "docstore/search.h"
#include "docstore/store.h"
#include "store_test_util.h"

using namespace folio;
using namespace folio::docstore;
using folio::docstore::testing::Filler;
using folio::docstore::testing::MakeDocument;

namespace {

int64_t Count(sql::Database& db, const char* sql) {
  auto st = db.PrepareUncached(sql);
  if (!st.ok() || !st->Step().ok()) return -1;
  return st->ColumnInt64(0);
}

struct Counts {
  int64_t docs, pages, chunks, fts;
  bool operator==(const Counts&) const = default;
};
Counts CountAll(Library& lib) {
  sql::Database& db = lib.database();
  return {Count(db, "SELECT count(*) FROM documents"), Count(db, "SELECT count(*) FROM pages"),
          Count(db, "SELECT count(*) FROM chunks"),
          Count(db,
                "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'lorem OR ipsum OR "
                "dolor OR sit OR amet OR albatross OR zeppelin OR quasar'")};
}

size_t HitsFor(Library& lib, const std::string& q) {
  auto hits = Search(lib, q, {});
  return hits.ok() ? hits->size() : size_t{9999};
}

ImportedDocument Sample(const std::string& path, const std::string& marker, uint32_t seed,
                        int n_pages = 5) {
  std::mt19937 rng(seed);
  std::vector<std::string> pages;
  for (int p = 0; p < n_pages; ++p) pages.push_back(Filler(rng, 120) + " " + marker);
  return MakeDocument(path, "Sample " + marker, pages);
}

}  // namespace

class TestStoreDocuments : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  int n_ = 0;
  std::unique_ptr<Library> Fresh() {
    auto lib = Library::Open(dir_.filePath(QString("lib%1.sqlite").arg(n_++)).toStdString());
    if (!lib.ok()) qFatal("%s", lib.status().message().c_str());
    return std::move(lib).value();
  }

 private slots:
  void storedDocumentReadsBackPageByPage() {
    auto lib = Fresh();
    const ImportedDocument doc = Sample("/a.txt", "albatross", 1);
    auto r = lib->StoreDocument(doc);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(r->action, StoreAction::kAdded);
    auto info = lib->GetDocument(r->doc_id);
    QVERIFY(info.ok());
    QCOMPARE(info->path, doc.path);
    QCOMPARE(info->title, doc.title);
    QCOMPARE(info->author, doc.author);
    QCOMPARE(info->content_hash, doc.content_hash);
    QCOMPARE(info->pages, 5);
    QCOMPARE(info->status, std::string("ready"));
    QCOMPARE(lib->GetPage(r->doc_id, 3)->text, doc.pages[2].text);
    QCOMPARE(lib->GetPage(r->doc_id, 6).status().code(), ErrorCode::kNotFound);
    auto chunks = lib->GetChunks(r->doc_id);
    QVERIFY(chunks.ok());
    QCOMPARE(chunks->size(), doc.chunks.size());
    for (size_t i = 0; i < chunks->size(); ++i) {
      QCOMPARE((*chunks)[i].chunk.text, doc.chunks[i].text);
      QCOMPARE((*chunks)[i].chunk.first_page, doc.chunks[i].first_page);
      QCOMPARE((*chunks)[i].chunk.char_end, doc.chunks[i].char_end);
      QCOMPARE((*chunks)[i].chunk.token_count, -1);
    }
    QVERIFY(lib->CheckIntegrity().ok());
  }

  void sameContentTwiceIsStoredOnce() {
    auto lib = Fresh();
    auto first = lib->StoreDocument(Sample("/a.txt", "albatross", 1));
    const Counts before = CountAll(*lib);
    ImportedDocument copy = Sample("/elsewhere/copy.txt", "albatross", 1);
    auto second = lib->StoreDocument(copy);
    QVERIFY(second.ok());
    QCOMPARE(second->action, StoreAction::kUnchanged);
    QCOMPARE(second->doc_id, first->doc_id);
    QVERIFY(CountAll(*lib) == before);
  }

  void changedFileReplacesItsOldVersion() {
    auto lib = Fresh();
    auto old_version = lib->StoreDocument(Sample("/a.txt", "albatross", 1));
    auto other = lib->StoreDocument(Sample("/b.txt", "quasar", 2));
    auto new_version = lib->StoreDocument(Sample("/a.txt", "zeppelin", 3));
    QVERIFY(new_version.ok());
    QCOMPARE(new_version->action, StoreAction::kReplaced);
    QVERIFY(new_version->doc_id != old_version->doc_id);
    QCOMPARE(lib->GetDocument(old_version->doc_id).status().code(), ErrorCode::kNotFound);
    QCOMPARE(lib->ListDocuments()->size(), size_t{2});
    QCOMPARE(HitsFor(*lib, "albatross"), size_t{0});  // old chunks left the index too
    QVERIFY(HitsFor(*lib, "zeppelin") > 0);
    QVERIFY(HitsFor(*lib, "quasar") > 0);
    QVERIFY(lib->CheckIntegrity().ok());
  }

  void failureMidTransactionLeavesNothingOfTheDocument() {
    auto lib = Fresh();
    QVERIFY(lib->StoreDocument(Sample("/keep.txt", "quasar", 1)).ok());
    const Counts before = CountAll(*lib);
    ImportedDocument bad = Sample("/bad.txt", "albatross", 2);
    QVERIFY(bad.chunks.size() >= 3);
    // The last chunk repeats an ordinal: the document row, its pages and the earlier chunks
    // (with their FTS rows) are written before UNIQUE(doc_id, ordinal) fails.
    bad.chunks.back().ordinal = 0;
    auto r = lib->StoreDocument(bad);
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), ErrorCode::kInvalidArgument);
    QVERIFY2(r.status().message().find("/bad.txt") != std::string::npos,
             r.status().message().c_str());
    QVERIFY(CountAll(*lib) == before);
    QCOMPARE(HitsFor(*lib, "albatross"), size_t{0});
    QVERIFY(!lib->FindByHash(bad.content_hash)->has_value());
    QVERIFY(lib->CheckIntegrity().ok());
    // The connection is not left inside a transaction: the next store works.
    QVERIFY(!lib->database().InTransaction());
    QVERIFY(lib->StoreDocument(Sample("/next.txt", "zeppelin", 3)).ok());
  }

  void failedReplacementKeepsTheOldVersion() {
    auto lib = Fresh();
    auto old_version = lib->StoreDocument(Sample("/a.txt", "albatross", 1));
    ImportedDocument bad = Sample("/a.txt", "zeppelin", 2);
    bad.chunks.back().ordinal = 0;
    QVERIFY(!lib->StoreDocument(bad).ok());
    QVERIFY(lib->GetDocument(old_version->doc_id).ok());
    QVERIFY(HitsFor(*lib, "albatross") > 0);
    QCOMPARE(HitsFor(*lib, "zeppelin"), size_t{0});
  }

  void inconsistentDocumentIsRejectedBeforeWriting() {
    auto lib = Fresh();
    ImportedDocument doc = Sample("/a.txt", "albatross", 1);
    doc.chunks[0].last_page = 9;  // past the 5 pages
    QCOMPARE(lib->StoreDocument(doc).status().code(), ErrorCode::kInvalidArgument);
    doc = Sample("/a.txt", "albatross", 1);
    doc.chunks[0].char_end = 1 << 30;
    QCOMPARE(lib->StoreDocument(doc).status().code(), ErrorCode::kInvalidArgument);
    doc = Sample("/a.txt", "albatross", 1);
    doc.pages[1].number = 7;
    QCOMPARE(lib->StoreDocument(doc).status().code(), ErrorCode::kInvalidArgument);
    QVERIFY(lib->ListDocuments()->empty());
  }

  void removalTakesPagesChunksIndexAndEmbeddings() {
    auto lib = Fresh();
    auto kept = lib->StoreDocument(Sample("/keep.txt", "quasar", 1));
    auto gone = lib->StoreDocument(Sample("/gone.txt", "albatross", 2));
    const auto chunks = *lib->GetChunks(gone->doc_id);
    QVERIFY(lib->PutEmbeddings("m", {{chunks[0].id, {0.5f, 0.25f, 1.0f}}}).ok());
    QVERIFY(lib->RemoveDocument(gone->doc_id).ok());
    QCOMPARE(lib->GetDocument(gone->doc_id).status().code(), ErrorCode::kNotFound);
    QCOMPARE(Count(lib->database(), "SELECT count(*) FROM documents"), int64_t{1});
    QVERIFY(lib->GetChunks(gone->doc_id)->empty());
    QCOMPARE(HitsFor(*lib, "albatross"), size_t{0});
    QVERIFY(!lib->GetEmbedding(chunks[0].id, "m")->has_value());
    QVERIFY(HitsFor(*lib, "quasar") > 0);
    QCOMPARE(lib->RemoveDocument(gone->doc_id).code(), ErrorCode::kNotFound);
    QVERIFY(lib->GetDocument(kept->doc_id).ok());
    QVERIFY(lib->CheckIntegrity().ok());
  }

  void tokenCountsAndEmbeddingsRoundTrip() {
    auto lib = Fresh();
    auto r = lib->StoreDocument(Sample("/a.txt", "albatross", 1));
    auto chunks = *lib->GetChunks(r->doc_id);
    QVERIFY(lib->SetChunkTokenCounts({{chunks[0].id, 321}, {chunks[1].id, 7}}).ok());
    chunks = *lib->GetChunks(r->doc_id);
    QCOMPARE(chunks[0].chunk.token_count, 321);
    QCOMPARE(chunks[1].chunk.token_count, 7);
    QCOMPARE(chunks[2].chunk.token_count, -1);
    const std::vector<float> v = {1.5f, -2.0f, 0.125f, 3e-8f};
    QVERIFY(lib->PutEmbeddings("model-a", {{chunks[0].id, v}, {chunks[1].id, v}}).ok());
    QVERIFY(lib->PutEmbeddings("model-b", {{chunks[0].id, {9.0f}}}).ok());
    QCOMPARE(**lib->GetEmbedding(chunks[0].id, "model-a"), v);
    QCOMPARE((*lib->GetEmbedding(chunks[0].id, "model-b"))->size(), size_t{1});
    QCOMPARE(lib->GetEmbeddings("model-a")->size(), size_t{2});
    QVERIFY(!lib->GetEmbedding(chunks[2].id, "model-a")->has_value());
    // An embedding for a chunk that does not exist breaks a foreign key: nothing stored.
    QVERIFY(!lib->PutEmbeddings("model-c", {{chunks[0].id, v}, {999999, v}}).ok());
    QVERIFY(lib->GetEmbeddings("model-c")->empty());
  }

  void failedImportIsRecordedThenReplacedBySuccess() {
    auto lib = Fresh();
    auto failed = lib->RecordFailedImport("/a.pdf", DocumentKind::kPdf, "damaged or not a PDF");
    QVERIFY(failed.ok());
    QVERIFY(lib->RecordFailedImport("/a.pdf", DocumentKind::kPdf, "timed out").ok());
    auto docs = *lib->ListDocuments();
    QCOMPARE(docs.size(), size_t{1});
    QCOMPARE(docs[0].status, std::string("failed"));
    QCOMPARE(docs[0].error, std::string("timed out"));
    auto ok = lib->StoreDocument(Sample("/a.pdf", "albatross", 1));
    QVERIFY(ok.ok());
    docs = *lib->ListDocuments();
    QCOMPARE(docs.size(), size_t{1});
    QCOMPARE(docs[0].status, std::string("ready"));
  }

  void diskFullAtCommitRollsBackAndStoreStaysUsable() {
    auto lib = Fresh();
    QVERIFY(lib->StoreDocument(Sample("/keep.txt", "quasar", 1)).ok());
    const Counts before = CountAll(*lib);
    sql::Database& db = lib->database();
    // The file may grow by a few pages only: a big document cannot fit (SQLITE_FULL).
    const int64_t pages_now = Count(db, "PRAGMA page_count");
    auto limit = db.PrepareUncached("PRAGMA max_page_count = " + std::to_string(pages_now + 8));
    QVERIFY(limit.ok() && limit->Step().ok());
    limit = db.PrepareUncached("PRAGMA max_page_count");  // drop the statement's hold
    auto big = lib->StoreDocument(Sample("/big.txt", "albatross", 2, 400));
    QVERIFY(!big.ok());
    QCOMPARE(big.status().code(), ErrorCode::kResourceExhausted);
    QVERIFY2(big.status().message().find("disk is full") != std::string::npos,
             big.status().message().c_str());
    QVERIFY(!db.InTransaction());
    QVERIFY(CountAll(*lib) == before);  // still readable, nothing half-stored
    QCOMPARE(HitsFor(*lib, "albatross"), size_t{0});
    QVERIFY(lib->CheckIntegrity().ok());
    // Space again: the same connection stores the document.
    auto unlimit = db.PrepareUncached("PRAGMA max_page_count = 1000000000");
    QVERIFY(unlimit.ok() && unlimit->Step().ok());
    auto retry = lib->StoreDocument(Sample("/big.txt", "albatross", 2, 400));
    QVERIFY2(retry.ok(), retry.status().message().c_str());
    QVERIFY(HitsFor(*lib, "albatross") > 0);
    QVERIFY(lib->CheckIntegrity().ok());
  }
};

QTEST_GUILESS_MAIN(TestStoreDocuments)
#include "test_store_documents.moc"
