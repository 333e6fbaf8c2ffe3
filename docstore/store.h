// The library: one SQLite file holding documents, their pages and chunks, the FTS5 index,
// embeddings and conversations. Each document is stored in one transaction, so it is
// either fully there or absent, whatever happens mid-import.
//
//   auto lib = Library::Open(ResolveLibraryPath(flag).value());
//   auto stored = (*lib)->StoreDocument(imported);   // {doc_id, kAdded|kUnchanged|kReplaced}
//   auto hits = Search(**lib, "selective scan", {});  // docstore/search.h
//
// One Library per thread that works at once (each is its own connection); WAL and
// BEGIN IMMEDIATE with a busy timeout keep an import, a chat and readers out of each
// other's way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "docstore/document.h"
#include "docstore/sqlite.h"
#include "engine/status.h"

namespace folio::docstore {

// The library file: `flag` (--library) when given, else $FOLIO_LIBRARY, else
// $XDG_DATA_HOME/folio/library.sqlite, else ~/.local/share/folio/library.sqlite.
// kNotFound when none of these can be worked out (no HOME).
Result<std::string> ResolveLibraryPath(const std::optional<std::string>& flag);

// One row of `documents`.
struct DocumentInfo {
  int64_t id = 0;
  std::string path;
  std::string title;
  std::string author;
  std::string content_hash;
  DocumentKind kind = DocumentKind::kText;
  int pages = 0;
  int64_t bytes = 0;
  int64_t mtime = 0;        // s since epoch
  int64_t imported_at = 0;  // s since epoch
  std::string status;       // "ready" or "failed"
  std::string error;        // why it failed; "" when ready
};

// A chunk as stored: its row id (what search results and embeddings refer to) + content.
struct StoredChunk {
  int64_t id = 0;
  int64_t doc_id = 0;
  Chunk chunk;  // token_count -1 when unknown
};

enum class StoreAction {
  kAdded,      // new content
  kUnchanged,  // the same content (hash) was already stored: nothing written
  kReplaced,   // a document at the same path with other content was replaced
};
const char* StoreActionName(StoreAction a);  // "added", "unchanged", "replaced"

struct StoreResult {
  int64_t doc_id = 0;
  StoreAction action = StoreAction::kAdded;
};

struct ChunkEmbedding {
  int64_t chunk_id = 0;
  std::vector<float> vector;
};

struct ConversationMessage {
  int64_t id = 0;
  std::string role;  // "system", "user", "assistant"
  std::string text;
  std::string meta_json;  // a JSON object
  int64_t created_at = 0;
};

class Library {
 public:
  // Opens or creates the library at `path` (creating parent folders), migrating an older
  // schema forward. Errors: kCorrupt ("store damaged: ...") for a damaged, truncated or
  // non-SQLite file, which is left untouched; kUnsupported for a newer schema.
  static Result<std::unique_ptr<Library>> Open(const std::string& path,
                                               const sql::OpenOptions& options = {});

  // Only on request (after Open said kCorrupt): renames the file, with its -wal and -shm,
  // to "<path>.damaged-YYYYMMDD-HHMMSS" and returns that name; the next Open starts anew.
  static Result<std::string> MoveDamagedAside(const std::string& path);

  // ---- documents ----
  // One transaction: document, pages, chunks and their FTS rows. The same content_hash
  // already stored -> its id (kUnchanged); the same path with another hash -> the old
  // version removed in the same transaction (kReplaced). On any error nothing is written.
  Result<StoreResult> StoreDocument(const ImportedDocument& doc);
  // Records a file that could not be imported (status "failed"), replacing an earlier
  // failure for the same path, so the library can show it with its reason.
  Result<int64_t> RecordFailedImport(const std::string& path, DocumentKind kind,
                                     const std::string& error);
  Status RemoveDocument(int64_t doc_id);  // kNotFound when absent
  Result<std::vector<DocumentInfo>> ListDocuments();
  Result<DocumentInfo> GetDocument(int64_t doc_id);
  Result<std::optional<int64_t>> FindByHash(const std::string& content_hash);
  Result<Page> GetPage(int64_t doc_id, int number);
  Result<std::vector<StoredChunk>> GetChunks(int64_t doc_id);
  // (chunk id, token count) pairs, in one transaction.
  Status SetChunkTokenCounts(const std::vector<std::pair<int64_t, int>>& counts);

  // ---- embeddings (one vector per chunk and model) ----
  Status PutEmbeddings(const std::string& model_key, const std::vector<ChunkEmbedding>& rows);
  Result<std::optional<std::vector<float>>> GetEmbedding(int64_t chunk_id,
                                                         const std::string& model_key);
  // All vectors of one model, ordered by chunk id.
  Result<std::vector<ChunkEmbedding>> GetEmbeddings(const std::string& model_key);

  // ---- conversations ----
  Result<int64_t> CreateConversation(const std::string& title, const std::vector<int64_t>& doc_ids);
  Result<int64_t> AppendMessage(int64_t conversation_id, const std::string& role,
                                const std::string& text, const std::string& meta_json = "{}");
  Result<std::vector<ConversationMessage>> ListMessages(int64_t conversation_id);

  // PRAGMA integrity_check plus the FTS index's own check; kCorrupt with the first problem.
  Status CheckIntegrity();

  const std::string& path() const { return db_->path(); }
  sql::Database& database() { return *db_; }

 private:
  explicit Library(std::unique_ptr<sql::Database> db) : db_(std::move(db)) {}
  Result<std::optional<int64_t>> FindByHashLocked(const std::string& content_hash);
  Status RemoveOtherVersions(const std::string& path, const std::string& content_hash,
                             bool* removed);
  Result<int64_t> InsertDocumentRow(const ImportedDocument& doc);
  Status InsertPages(int64_t doc_id, const ImportedDocument& doc);
  Status InsertChunks(int64_t doc_id, const ImportedDocument& doc);

  std::unique_ptr<sql::Database> db_;
};

// Checks what the store relies on before a transaction starts: pages numbered 1..n,
// chunk page and byte ranges inside the document. kInvalidArgument naming the problem.
Status ValidateImportedDocument(const ImportedDocument& doc);

}  // namespace folio::docstore
