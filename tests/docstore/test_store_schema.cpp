// The library file itself: creation, the migration ladder from the first schema (v1 -> v2 ->
// v3, a step killed midway leaving the old version whole), refusing a newer store, and damaged
// files (kCorrupt, left untouched, moved aside only on request).
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

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

// The v1 -> v2 step, frozen as it shipped (the v2 DDL; run after kFrozenSchemaV1).
constexpr const char kFrozenMigrationToV2[] = R"sql(
CREATE TABLE chunk_embeddings(
  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE, model_key TEXT NOT NULL,
  dim INTEGER NOT NULL CHECK (dim > 0), vector BLOB NOT NULL, CHECK (length(vector) = 4 * dim),
  PRIMARY KEY (chunk_id, model_key)) WITHOUT ROWID;
CREATE INDEX chunk_embeddings_by_model ON chunk_embeddings(model_key, chunk_id);
CREATE TABLE conversations(
  id INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '',
  doc_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(doc_ids)),
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')), text TEXT NOT NULL,
  meta TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)), created_at INTEGER NOT NULL);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE state_cache(
  key TEXT NOT NULL, model_key TEXT NOT NULL, bytes INTEGER NOT NULL, path TEXT NOT NULL,
  last_used INTEGER NOT NULL, PRIMARY KEY (key, model_key)) WITHOUT ROWID;
CREATE INDEX state_cache_by_last_used ON state_cache(last_used);
PRAGMA user_version = 2;
)sql";

// Rows a v2 library holds beyond the v1 fixture: "clock" (never "clocks") in chunk 80,
// "measured" in chunk 81, 20 seeded filler documents of 3 one-chunk pages each with a
// "marker<doc>" word, and a row in every v2 table.
std::string V2Rows() {
  std::string sql =
      "INSERT INTO documents(id, path, title, content_hash, kind, pages, imported_at) "
      "VALUES (8, '/old/tower.txt', 'Tower', 'bb22', 'text', 2, 1600000000);"
      "INSERT INTO pages VALUES (8, 1, 0, 'the old clock struck nine');"
      "INSERT INTO pages VALUES (8, 2, 28, 'we measured the tide at dawn');"
      "INSERT INTO chunks(id, doc_id, ordinal, first_page, last_page, char_begin, char_end, text) "
      "VALUES (80, 8, 0, 1, 1, 0, 25, 'the old clock struck nine'),"
      "       (81, 8, 1, 2, 2, 28, 56, 'we measured the tide at dawn');";
  std::mt19937 rng(3);
  for (int d = 10; d < 30; ++d) {
    const std::string id = std::to_string(d);
    sql +=
        "INSERT INTO documents(id, path, title, content_hash, kind, pages, imported_at) VALUES (" +
        id + ", '/old/" + id + "', 'D" + id + "', 'h" + id + "', 'text', 3, 1600000000);";
    int64_t begin = 0;
    for (int p = 1; p <= 3; ++p) {
      const std::string text = testing::Filler(rng, 200) + " marker" + id;
      const std::string b = std::to_string(begin), e = std::to_string(begin + text.size());
      sql += "INSERT INTO pages VALUES (" + id + ", " + std::to_string(p) + ", " + b + ", '" +
             text + "');";
      sql +=
          "INSERT INTO chunks(id, doc_id, ordinal, first_page, last_page, char_begin, char_end, "
          "text) VALUES (" +
          std::to_string(d * 100 + p) + ", " + id + ", " + std::to_string(p - 1) + ", " +
          std::to_string(p) + ", " + std::to_string(p) + ", " + b + ", " + e + ", '" + text + "');";
      begin += static_cast<int64_t>(text.size()) + 3;
    }
  }
  sql +=
      "INSERT INTO chunk_embeddings VALUES (80, 'm', 2, zeroblob(8));"
      "INSERT INTO conversations(id, title, doc_ids, created_at, updated_at) "
      "VALUES (1, 'time', '[8]', 1600000000, 1600000000);"
      "INSERT INTO messages(conversation_id, role, text, created_at) "
      "VALUES (1, 'user', 'when did the clock strike?', 1600000001);"
      "INSERT INTO state_cache VALUES ('k', 'm', 10, '/cache/k', 1600000002);";
  return sql;
}

// A v2 library as v2 Folio wrote it: the frozen v1 schema and rows, the frozen v2 step, more
// rows through the v1 triggers (so the unstemmed index holds them). Closed: checkpointed.
void MakeV2Library(const std::string& path) {
  auto db = sql::Database::Open(path, {});
  QVERIFY(db.ok());
  QVERIFY2((*db)->Exec(kFrozenSchemaV1).ok(), "could not build the v1 file");
  QVERIFY2((*db)->Exec(kFrozenMigrationToV2).ok(), "could not build the v2 file");
  const Status rows = (*db)->Exec(V2Rows().c_str());
  QVERIFY2(rows.ok(), rows.message().c_str());
}

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

// Row counts of every table, the search index's own rows (chunks_fts_docsize) included.
std::vector<std::string> RowCounts(sql::Database& db) {
  std::vector<std::string> counts;
  for (const char* t : {"documents", "pages", "chunks", "chunk_embeddings", "conversations",
                        "messages", "state_cache", "chunks_fts_docsize"}) {
    counts.push_back(t + std::string(": ") +
                     QueryText(db, ("SELECT count(*) FROM " + std::string(t)).c_str()));
  }
  return counts;
}

// Chunk ids whose index entry matches an FTS5 query, in order.
std::vector<int64_t> Matching(sql::Database& db, const std::string& fts_query) {
  std::vector<int64_t> ids;
  auto st = db.PrepareUncached("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY 1");
  if (!st.ok()) return {-1};
  st->Bind(1, fts_query);
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return {-1};
    if (!*row) return ids;
    ids.push_back(st->ColumnInt64(0));
  }
}

std::string FtsTableSql(sql::Database& db) {
  return QueryText(db, "SELECT sql FROM sqlite_schema WHERE name = 'chunks_fts'");
}

// The v2 file as it was: version 2, the unstemmed index with every row, both integrity
// checks ok. `counts` is RowCounts before any migration was tried.
void ExpectV2Intact(const std::string& path, const std::vector<std::string>& counts) {
  QCOMPARE(*VersionOf(path), 2);
  auto db = sql::Database::Open(path, {});
  QVERIFY(db.ok());
  QCOMPARE(RowCounts(**db), counts);
  QVERIFY2(FtsTableSql(**db).find("tokenize='unicode61 remove_diacritics 2'") != std::string::npos,
           FtsTableSql(**db).c_str());
  QCOMPARE(QueryText(**db, "PRAGMA integrity_check"), std::string("ok"));
  QVERIFY((*db)->Exec("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')").ok());
  QCOMPARE(Matching(**db, "clock"), std::vector<int64_t>{80});
  QVERIFY(Matching(**db, "clocks").empty());  // still unstemmed
}

// Set in a forked child only: progress callbacks inside a transaction before it kills itself.
int g_ticks_left = 0;

int KillAfterTicks(void* handle) {
  if (!sqlite3_get_autocommit(static_cast<sqlite3*>(handle)) && g_ticks_left-- <= 0) {
    raise(SIGKILL);
  }
  return 0;
}

int KillAtCommit(void*) {
  raise(SIGKILL);
  return 1;
}

// Migrates `path` in a child process that is SIGKILLed `ticks` VM steps into a write
// transaction (ticks < 0: in the commit hook, every statement run, nothing committed).
// Returns the child's wait status.
int MigrateInChildAndKill(const std::string& path, int ticks) {
  const pid_t pid = fork();
  if (pid == 0) {
    auto db = sql::Database::Open(path, {});
    if (!db.ok()) _exit(2);
    sqlite3* h = (*db)->handle();
    g_ticks_left = ticks;
    if (ticks < 0) {
      sqlite3_commit_hook(h, &KillAtCommit, nullptr);
    } else {
      sqlite3_progress_handler(h, 1, &KillAfterTicks, h);
    }
    _exit(MigrateToCurrent(**db).ok() ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// VM steps the v2 -> v3 step takes inside its transaction, counted on a copy of `path`.
int64_t MigrationTicks(const std::string& path) {
  const std::string copy = path + ".count";
  std::filesystem::copy_file(path, copy);
  auto db = sql::Database::Open(copy, {});
  if (!db.ok()) return -1;
  static int64_t ticks;
  ticks = 0;
  sqlite3_progress_handler((*db)->handle(), 1,
                           [](void* h) {
                             if (!sqlite3_get_autocommit(static_cast<sqlite3*>(h))) ++ticks;
                             return 0;
                           },
                           (*db)->handle());
  if (!MigrateToCurrent(**db).ok()) return -1;
  return ticks;
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

  void secondSchemaIsMigratedToStemmedSearchKeepingEveryRow() {
    const std::string path = PathFor("v2.sqlite");
    MakeV2Library(path);
    std::vector<std::string> before;
    {
      auto db = sql::Database::Open(path, {});
      QVERIFY(db.ok());
      before = RowCounts(**db);
    }
    ExpectV2Intact(path, before);
    auto lib = Library::Open(path);
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    sql::Database& db = (*lib)->database();
    QCOMPARE(*SchemaVersion(db), 3);
    QCOMPARE(RowCounts(db), before);
    QCOMPARE(QueryText(db, "PRAGMA integrity_check"), std::string("ok"));
    QVERIFY((*lib)->CheckIntegrity().ok());
    // The same external-content table, now stemmed.
    const std::string fts = FtsTableSql(db);
    QVERIFY2(fts.find("content='chunks', content_rowid='id'") != std::string::npos, fts.c_str());
    QVERIFY2(fts.find("tokenize='porter unicode61 remove_diacritics 2'") != std::string::npos,
             fts.c_str());
    // Word forms find each other.
    auto clocks = Search(**lib, "clocks", {});
    QVERIFY2(clocks.ok(), clocks.status().message().c_str());
    QCOMPARE(clocks->size(), size_t{1});
    QCOMPARE(clocks->front().chunk_id, int64_t{80});
    auto measuring = Search(**lib, "measuring", {});
    QVERIFY(measuring.ok());
    QCOMPARE(measuring->size(), size_t{1});
    QCOMPARE(measuring->front().chunk_id, int64_t{81});
    QCOMPARE(measuring->front().page, 2);
    // Every old document is still found, on the right page.
    for (int d = 10; d < 30; ++d) {
      SearchOptions all;
      all.limit = 10;
      auto hits = Search(**lib, "marker" + std::to_string(d), all);
      QVERIFY(hits.ok());
      QCOMPARE(hits->size(), size_t{3});
      for (const auto& h : *hits) {
        QCOMPARE(h.doc_id, int64_t{d});
        QCOMPARE(static_cast<int64_t>(h.page), h.chunk_id - d * 100);
      }
    }
    // The v1 triggers keep the rebuilt index in step: insert, delete.
    auto stored = (*lib)->StoreDocument(
        MakeDocument("/new.txt", "New", {"the instruments were recalibrated twice"}));
    QVERIFY2(stored.ok(), stored.status().message().c_str());
    auto recal = Search(**lib, "recalibrating", {});
    QCOMPARE(recal->size(), size_t{1});
    QCOMPARE(recal->front().doc_id, stored->doc_id);
    QVERIFY((*lib)->RemoveDocument(8).ok());
    QVERIFY(Search(**lib, "clocks", {})->empty());
    QVERIFY((*lib)->CheckIntegrity().ok());
  }

  void newLibraryIsStemmedFromTheStart() {
    QCOMPARE(kSchemaVersion, 3);
    auto lib = Library::Open(PathFor("fresh-v3.sqlite"));
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    QCOMPARE(*SchemaVersion((*lib)->database()), 3);
    const std::string fts = FtsTableSql((*lib)->database());
    QVERIFY2(fts.find("tokenize='porter unicode61 remove_diacritics 2'") != std::string::npos,
             fts.c_str());
    QVERIFY((*lib)->StoreDocument(MakeDocument("/c.txt", "C", {"one clock only"})).ok());
    QCOMPARE(Search(**lib, "clocks", {})->size(), size_t{1});
  }

  void killedMidMigrationLeavesSecondSchemaWhole() {
    const std::string path = PathFor("v2-killed.sqlite");
    MakeV2Library(path);
    std::vector<std::string> before;
    {
      auto db = sql::Database::Open(path, {});
      QVERIFY(db.ok());
      before = RowCounts(**db);
    }
    const int64_t total = MigrationTicks(path);
    QVERIFY2(total > 8, qPrintable(QString("the migration took %1 steps").arg(total)));
    // Early, midway, just before the end, and at the commit itself.
    for (const int64_t ticks : {int64_t{0}, total / 3, 2 * total / 3, total - 2, int64_t{-1}}) {
      const int status = MigrateInChildAndKill(path, static_cast<int>(ticks));
      QVERIFY2(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               qPrintable(QString("the child was not killed at step %1").arg(ticks)));
      ExpectV2Intact(path, before);
    }
    // A failed commit in this process: a clear error, rolled back, the file still usable.
    {
      auto db = sql::Database::Open(path, {});
      QVERIFY(db.ok());
      sqlite3_commit_hook((*db)->handle(), [](void*) { return 1; }, nullptr);
      const Status s = MigrateToCurrent(**db);
      QVERIFY(!s.ok());
      QVERIFY2(s.message().find("upgrading the library to schema 3") != std::string::npos,
               s.message().c_str());
    }
    ExpectV2Intact(path, before);
    auto lib = Library::Open(path);
    QVERIFY2(lib.ok(), lib.status().message().c_str());
    QCOMPARE(*SchemaVersion((*lib)->database()), 3);
    QCOMPARE(RowCounts((*lib)->database()), before);
    QCOMPARE(Search(**lib, "clocks", {})->front().chunk_id, int64_t{80});
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
                                         "this build knows 3)") != std::string::npos,
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
