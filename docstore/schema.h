// The library's schema and its forward-only migration ladder. The version lives in
// PRAGMA user_version: 0 is an empty file, kSchemaVersion is what this build writes.
// Each step runs in its own transaction, so a crash mid-migration leaves the previous
// version intact; a store from a newer Folio is refused, never touched.
#pragma once

#include "docstore/sqlite.h"

namespace folio::docstore {

// v1: documents, pages, chunks, chunks_fts (the first schema, Folio 0.1 pre-release).
// v2: chunk_embeddings, conversations, messages, state_cache.
// v3: chunks_fts rebuilt with the Porter stemmer (tokenize 'porter unicode61 remove_diacritics
//     2'), so a word finds its other forms ("clocks" -> "clock").
inline constexpr int kSchemaVersion = 3;

// Reads PRAGMA user_version.
Result<int> SchemaVersion(sql::Database& db);

// Whether this build may open the store at all, before anything is written to it:
// kUnsupported for a newer schema, kCorrupt for an SQLite file that is not a library.
Status CheckCompatible(sql::Database& db);

// Brings the store up to kSchemaVersion, one step at a time. Refuses (kUnsupported) a store
// whose version is newer than this build knows.
Status MigrateToCurrent(sql::Database& db);

}  // namespace folio::docstore
