#include "docstore/schema.h"

#include <string>

namespace folio::docstore {
namespace {

// v0 -> v1: the first schema. Never edit a step once released: add a new one below.
constexpr const char kMigrationToV1[] = R"sql(
CREATE TABLE documents(
  id           INTEGER PRIMARY KEY,
  path         TEXT NOT NULL,              -- absolute path of the source file
  title        TEXT NOT NULL DEFAULT '',
  author       TEXT NOT NULL DEFAULT '',
  content_hash TEXT UNIQUE,                -- hex SHA-256 of the file; NULL only when failed
  kind         TEXT NOT NULL CHECK (kind IN ('pdf', 'text', 'markdown')),
  pages        INTEGER NOT NULL DEFAULT 0,
  bytes        INTEGER NOT NULL DEFAULT 0,
  mtime        INTEGER NOT NULL DEFAULT 0, -- file modification time, s since epoch
  imported_at  INTEGER NOT NULL,           -- s since epoch
  status       TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'failed')),
  error        TEXT NOT NULL DEFAULT '',
  CHECK (status <> 'ready' OR content_hash IS NOT NULL)
);
CREATE INDEX documents_by_path ON documents(path);

CREATE TABLE pages(
  doc_id     INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  number     INTEGER NOT NULL CHECK (number >= 1),
  char_begin INTEGER NOT NULL,  -- byte offset of the page in the joined full text
  text       TEXT NOT NULL,
  PRIMARY KEY (doc_id, number)
) WITHOUT ROWID;

CREATE TABLE chunks(
  id          INTEGER PRIMARY KEY,
  doc_id      INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal     INTEGER NOT NULL,
  first_page  INTEGER NOT NULL,
  last_page   INTEGER NOT NULL,
  char_begin  INTEGER NOT NULL,  -- byte range in the joined full text
  char_end    INTEGER NOT NULL,
  text        TEXT NOT NULL,
  token_count INTEGER,           -- NULL until a tokenizer has counted it
  UNIQUE (doc_id, ordinal),
  CHECK (1 <= first_page AND first_page <= last_page),
  CHECK (0 <= char_begin AND char_begin <= char_end)
);

-- External-content index over chunks.text, kept in step by the triggers below.
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

PRAGMA user_version = 1;
)sql";

// v1 -> v2: room for the model-side features (embeddings, chat, the document-state cache).
constexpr const char kMigrationToV2[] = R"sql(
CREATE TABLE chunk_embeddings(
  chunk_id  INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
  model_key TEXT NOT NULL,      -- which embedding model (name + revision)
  dim       INTEGER NOT NULL CHECK (dim > 0),
  vector    BLOB NOT NULL,      -- dim little-endian float32
  CHECK (length(vector) = 4 * dim),
  PRIMARY KEY (chunk_id, model_key)
) WITHOUT ROWID;
CREATE INDEX chunk_embeddings_by_model ON chunk_embeddings(model_key, chunk_id);

CREATE TABLE conversations(
  id         INTEGER PRIMARY KEY,
  title      TEXT NOT NULL DEFAULT '',
  doc_ids    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(doc_ids)),  -- JSON array of ids
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE messages(
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  text            TEXT NOT NULL,
  meta            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),  -- citations, model, timings
  created_at      INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);

-- Snapshots of the model state after a set of documents, stored as files beside the library.
CREATE TABLE state_cache(
  key       TEXT NOT NULL,     -- content hashes of the documents + prompt layout
  model_key TEXT NOT NULL,
  bytes     INTEGER NOT NULL,
  path      TEXT NOT NULL,     -- snapshot file
  last_used INTEGER NOT NULL,  -- s since epoch, for LRU eviction
  PRIMARY KEY (key, model_key)
) WITHOUT ROWID;
CREATE INDEX state_cache_by_last_used ON state_cache(last_used);

PRAGMA user_version = 2;
)sql";

// v2 -> v3: stemmed search. The index is rebuilt with the Porter stemmer over the same
// unicode61 tokenizer (diacritics folded, as before), so "clocks" finds "clock" and
// "measuring" finds "measured". Same external-content options, so the v1 triggers on chunks
// keep it in step unchanged; 'rebuild' re-reads every row of chunks, so every existing
// document stays searchable. Exact phrases are told apart in search.cpp, not here.
constexpr const char kMigrationToV3[] = R"sql(
DROP TABLE chunks_fts;
CREATE VIRTUAL TABLE chunks_fts USING fts5(
  text, content='chunks', content_rowid='id',
  tokenize='porter unicode61 remove_diacritics 2');
INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');

PRAGMA user_version = 3;
)sql";

struct Migration {
  int to_version;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {1, kMigrationToV1},
    {2, kMigrationToV2},
    {3, kMigrationToV3},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration per schema version");

Status RunMigration(sql::Database& db, const Migration& m) {
  sql::Transaction tx(db);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  // Another process may have migrated while we waited for the write lock.
  FOLIO_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version >= m.to_version) return Status::Ok();
  const std::string what = "upgrading the library to schema " + std::to_string(m.to_version);
  FOLIO_RETURN_IF_ERROR(db.Exec(m.sql).WithContext(what));
  return tx.Commit().WithContext(what);
}

// Version 0 must mean a new, empty file: an SQLite file of some other program is not ours.
Status CheckEmpty(sql::Database& db) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st,
                         db.PrepareUncached("SELECT count(*) FROM sqlite_schema"));
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row && st.ColumnInt64(0) != 0) {
    return Corrupt("store damaged: " + db.path() + " is an SQLite file but not a Folio library");
  }
  return Status::Ok();
}

}  // namespace

Result<int> SchemaVersion(sql::Database& db) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.PrepareUncached("PRAGMA user_version"));
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Internal("PRAGMA user_version returned nothing");
  return st.ColumnInt(0);
}

Status CheckCompatible(sql::Database& db) {
  FOLIO_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > kSchemaVersion) {
    return Unsupported("this library was written by a newer Folio (schema " +
                       std::to_string(version) + ", this build knows " +
                       std::to_string(kSchemaVersion) + "); update Folio to open it");
  }
  if (version < 0) return Corrupt("store damaged: negative schema version");
  if (version == 0) FOLIO_RETURN_IF_ERROR(CheckEmpty(db));
  return Status::Ok();
}

Status MigrateToCurrent(sql::Database& db) {
  FOLIO_RETURN_IF_ERROR(CheckCompatible(db));
  FOLIO_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  for (const Migration& m : kMigrations) {
    if (m.to_version <= version) continue;
    FOLIO_RETURN_IF_ERROR(RunMigration(db, m));
  }
  return Status::Ok();
}

}  // namespace folio::docstore
