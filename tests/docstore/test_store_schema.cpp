// The library file itself: creation, the migration ladder from the first schema, refusing a
// newer store, and damaged files (kCorrupt, left untouched, moved aside only on request).
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "docstore/schema.h"
#include "docstore/search.h"
#include "docstore/store.h"
#include "store_test_util.h"

using namespace folio;
using namespace folio::docstore;
using folio::docstore::testing::MakeDocument;
using folio::docstore::testing::ReadAll;

namespace {

// The first released schema (v1), frozen here as it shipped: a migration test must start
// from what real files contain, not from whatever schema.cpp says today.
constexpr const char kFrozenSchemaV1[] = R"sql(
CREATE TABLE documents(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
  author TEXT NOT NULL DEFAULT '', content_hash TEXT UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('pdf', 'text', 'markdown')),
  pages INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
  mtime INTEGER NOT NULL DEFAULT 0, imported_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'failed')),
  error TEXT NOT NULL DEFAULT '', CHECK (status <> 'ready' OR content_hash IS NOT NULL));
CREATE INDEX documents_by_path ON documents(path);
CREATE TABLE pages(
  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  number INTEGER NOT NULL CHECK (number >= 1), char_begin INTEGER NOT NULL,
  text TEXT NOT NULL, PRIMARY KEY (doc_id, number)) WITHOUT ROWID;
CREATE TABLE chunks(
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL, first_page INTEGER NOT NULL, last_page INTEGER NOT NULL,
  char_begin INTEGER NOT NULL, char_end INTEGER NOT NULL, text TEXT NOT NULL,
  token_count INTEGER, UNIQUE (doc_id, ordinal),
  CHECK (1 <= first_page AND first_page <= last_page),
  CHECK (0 <= char_begin AND char_begin <= char_end));
CREATE VIRTUAL TABLE chunks_fts USING fts5(
  text, content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO documents(id, path, title, content_hash, kind, pages, imported_at)
  VALUES (7, '/old/notes.txt', 'Old notes', 'aa11', 'text', 2, 1600000000);
INSERT INTO pages VALUES (7, 1, 0, 'first page about migrating albatrosses');
INSERT INTO pages VALUES (7, 2, 41, 'second page about penguins');
INSERT INTO chunks(id, doc_id, ordinal, first_page, last_page, char_begin, char_end, text)
  VALUES (70, 7, 0, 1, 2, 0, 67,
          'first page about migrating albatrosses' || char(10, 12, 10) || 'second page about penguins');
PRAGMA user_version = 1;
)sql";

Result<int> VersionOf(const std::string& path) {
  sql::OpenOptions o;
  o.wal = false;
  FOLIO_ASSIGN_OR_RETURN(auto db, sql::Database::Open(path, o));
  return SchemaVersion(*db);
}

std::string QueryText(sql::Database& db, const char* sql) {
  auto st = db.PrepareUncached(sql);
  if (!st.ok()) return "error: " + st.status().message();
  auto row = st->Step();
  if (!row.ok() || !*row) return "no row";
  return st->ColumnText(0);
}

// A real library with some documents, closed (so checkpointed into the main file).
void MakeLibraryWithDocuments(const std::string& path, int n_docs) {
  auto lib = Library::Open(path);
  QVERIFY2(lib.ok(), lib.status().message().c_str());
  std::mt19937 rng(7);
  for (int d = 0; d < n_docs; ++d) {
    std::vector<std::string> pages;
    for (int p = 0; p < 10; ++p) pages.push_back(testing::Filler(rng, 300));
    auto r = (*lib)->StoreDocument(MakeDocument("/docs/" + std::to_string(d), "D", pages));
    QVERIFY2(r.ok(), r.status().message().c_str());
  }
}

}  // namespace

class TestStoreSchema : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir dir_;
  std::string PathFor(const char* name) { return dir_.filePath(name).toStdString(); }

 private slots:
  void newLibraryHasCurrentSchemaWalAndForeignKeys() {
    const std::string path = PathFor("sub/folder/new.sqlite");  // parents are created
    auto lib = Library::Open(path);
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    sql::Database& db = (*lib)->database();
    QCOMPARE(*SchemaVersion(db), kSchemaVersion);
    QCOMPARE(QueryText(db, "PRAGMA journal_mode"), std::string("wal"));
    QCOMPARE(QueryText(db, "PRAGMA foreign_keys"), std::string("1"));
    for (const char* table : {"documents", "pages", "chunks", "chunks_fts", "chunk_embeddings",
                              "conversations", "messages", "state_cache"}) {
      auto st = db.PrepareUncached("SELECT count(*) FROM sqlite_schema WHERE name = ?1");
      QVERIFY(st.ok());
      st->Bind(1, table);
      QVERIFY(*st->Step());
      QVERIFY2(st->ColumnInt(0) == 1, table);
    }
    QVERIFY((*lib)->CheckIntegrity().ok());
  }

  void reopeningKeepsDataAndVersion() {
    const std::string path = PathFor("reopen.sqlite");
    MakeLibraryWithDocuments(path, 2);
    auto lib = Library::Open(path);
    QVERIFY(lib.ok());
    QCOMPARE((*lib)->ListDocuments()->size(), size_t{2});
    QCOMPARE(*VersionOf(path), kSchemaVersion);
  }

  void firstSchemaIsMigratedForwardKeepingDocuments() {
    const std::string path = PathFor("v1.sqlite");
    {
      auto db = sql::Database::Open(path, {});
      QVERIFY(db.ok());
      QVERIFY2((*db)->Exec(kFrozenSchemaV1).ok(), "could not build the v1 file");
    }
    QCOMPARE(*VersionOf(path), 1);
    auto lib = Library::Open(path);
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    QCOMPARE(*SchemaVersion((*lib)->database()), kSchemaVersion);
    auto doc = (*lib)->GetDocument(7);
    QVERIFY(doc.ok());
    QCOMPARE(doc->title, std::string("Old notes"));
    // The old FTS rows still answer, page mapping included.
    auto hits = Search(**lib, "penguins", {});
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t{1});
    QCOMPARE(hits->front().page, 2);
    // What v2 added works on the migrated file.
    QVERIFY((*lib)->PutEmbeddings("m", {{70, {1.0f, 2.0f}}}).ok());
    QCOMPARE((*(*lib)->GetEmbedding(70, "m"))->size(), size_t{2});
    auto conv = (*lib)->CreateConversation("about birds", {7});
    QVERIFY(conv.ok());
    QVERIFY((*lib)->AppendMessage(*conv, "user", "where do albatrosses go?").ok());
    QVERIFY((*lib)->CheckIntegrity().ok());
  }

  void newerSchemaIsRefusedAndLeftUntouched() {
    const std::string path = PathFor("newer.sqlite");
    MakeLibraryWithDocuments(path, 1);
    {
      auto db = sql::Database::Open(path, {});
      QVERIFY((*db)->Exec("PRAGMA user_version = 99").ok());
    }
    const QByteArray before = ReadAll(QString::fromStdString(path));
    auto lib = Library::Open(path);
    QVERIFY(!lib.ok());
    QCOMPARE(lib.status().code(), ErrorCode::kUnsupported);
    QVERIFY2(lib.status().message().find("this library was written by a newer Folio (schema 99, "
                                         "this build knows 2)") != std::string::npos,
             lib.status().message().c_str());
    QCOMPARE(ReadAll(QString::fromStdString(path)), before);
  }

  void nonSqliteFileIsCorruptAndUntouched() {
    const std::string path = PathFor("text.sqlite");
    {
      std::ofstream f(path, std::ios::binary);
      for (int i = 0; i < 500; ++i) f << "this is a shopping list, not a database\n";
    }
    const QByteArray before = ReadAll(QString::fromStdString(path));
    auto lib = Library::Open(path);
    QVERIFY(!lib.ok());
    QCOMPARE(lib.status().code(), ErrorCode::kCorrupt);
    QVERIFY2(lib.status().message().find("store damaged") != std::string::npos,
             lib.status().message().c_str());
    QCOMPARE(ReadAll(QString::fromStdString(path)), before);
  }

  void truncatedLibraryIsCorruptAndUntouched() {
    const std::string path = PathFor("truncated.sqlite");
    MakeLibraryWithDocuments(path, 4);
    const auto size = std::filesystem::file_size(path);
    QVERIFY(size > 64 * 1024);
    std::filesystem::resize_file(path, size / 2);
    const QByteArray before = ReadAll(QString::fromStdString(path));
    auto lib = Library::Open(path);
    QVERIFY(!lib.ok());
    QCOMPARE(lib.status().code(), ErrorCode::kCorrupt);
    QCOMPARE(ReadAll(QString::fromStdString(path)), before);
  }

  void damagedHeaderIsCorrupt() {
    const std::string path = PathFor("header.sqlite");
    MakeLibraryWithDocuments(path, 1);
    {
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(0);
      f.write("garbage garbage!", 16);  // the "SQLite format 3\0" magic
    }
    auto lib = Library::Open(path);
    QVERIFY(!lib.ok());
    QCOMPARE(lib.status().code(), ErrorCode::kCorrupt);
  }

  void foreignSqliteFileIsNotTakenOver() {
    const std::string path = PathFor("other-app.sqlite");
    {
      sql::OpenOptions o;
      o.wal = false;
      auto db = sql::Database::Open(path, o);
      QVERIFY(
          (*db)->Exec("CREATE TABLE recipes(name TEXT); INSERT INTO recipes VALUES ('x')").ok());
    }
    const QByteArray before = ReadAll(QString::fromStdString(path));
    auto lib = Library::Open(path);
    QVERIFY(!lib.ok());
    QCOMPARE(lib.status().code(), ErrorCode::kCorrupt);
    QCOMPARE(ReadAll(QString::fromStdString(path)), before);
  }

  void damagedFileIsMovedAsideOnlyWhenAsked() {
    const std::string path = PathFor("aside.sqlite");
    {
      std::ofstream f(path, std::ios::binary);
      f << std::string(3000, 'x');
    }
    const QByteArray before = ReadAll(QString::fromStdString(path));
    QCOMPARE(Library::Open(path).status().code(), ErrorCode::kCorrupt);
    QCOMPARE(Library::Open(path).status().code(), ErrorCode::kCorrupt);  // still not replaced
    auto moved = Library::MoveDamagedAside(path);
    QVERIFY2(moved.ok(), moved.status().message().c_str());
    QVERIFY(moved->find("aside.sqlite.damaged-") != std::string::npos);
    QCOMPARE(ReadAll(QString::fromStdString(*moved)), before);
    QVERIFY(!std::filesystem::exists(path));
    auto fresh = Library::Open(path);
    QVERIFY2(fresh.ok(), fresh.status().message().c_str());
    QVERIFY((*fresh)->ListDocuments()->empty());
    // Moving aside twice in the same second keeps both old files.
    fresh->reset();
    auto again = Library::MoveDamagedAside(path);
    QVERIFY(again.ok());
    QVERIFY(*again != *moved);
    QCOMPARE(ReadAll(QString::fromStdString(*moved)), before);
  }

  void libraryPathFollowsFlagThenEnvThenXdgThenHome() {
    qputenv("FOLIO_LIBRARY", "/env/lib.sqlite");
    qputenv("XDG_DATA_HOME", "/xdg");
    QCOMPARE(*ResolveLibraryPath(std::string("/flag.sqlite")), std::string("/flag.sqlite"));
    QCOMPARE(*ResolveLibraryPath(std::nullopt), std::string("/env/lib.sqlite"));
    qunsetenv("FOLIO_LIBRARY");
    QCOMPARE(*ResolveLibraryPath(std::nullopt), std::string("/xdg/folio/library.sqlite"));
    qunsetenv("XDG_DATA_HOME");
    const QByteArray home = qgetenv("HOME");
    qputenv("HOME", "/home/someone");
    QCOMPARE(*ResolveLibraryPath(std::nullopt),
             std::string("/home/someone/.local/share/folio/library.sqlite"));
    qunsetenv("HOME");
    QCOMPARE(ResolveLibraryPath(std::nullopt).status().code(), ErrorCode::kNotFound);
    qputenv("HOME", home);
  }
};

QTEST_GUILESS_MAIN(TestStoreSchema)
#include "test_store_schema.moc"
