#include "docstore/store.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "docstore/schema.h"
#include "docstore/search_rank.h"

namespace folio::docstore {
namespace fs = std::filesystem;

namespace {

// ---- SQL ------------------------------------------------------------------------
constexpr const char kFindByHash[] = "SELECT id FROM documents WHERE content_hash = ?1";
constexpr const char kFindOtherVersions[] =
    "SELECT id FROM documents WHERE path = ?1 AND (content_hash IS NOT ?2)";
constexpr const char kDeleteDocument[] = "DELETE FROM documents WHERE id = ?1";
constexpr const char kInsertDocument[] =
    "INSERT INTO documents(path, title, author, content_hash, kind, pages, bytes, mtime, "
    "imported_at, status, error) "
    "VALUES (:path, :title, :author, :hash, :kind, :pages, :bytes, :mtime, :now, 'ready', '')";
constexpr const char kInsertFailed[] =
    "INSERT INTO documents(path, kind, imported_at, status, error) "
    "VALUES (?1, ?2, ?3, 'failed', ?4)";
constexpr const char kDeleteFailedAtPath[] =
    "DELETE FROM documents WHERE path = ?1 AND status = 'failed'";
constexpr const char kInsertPage[] =
    "INSERT INTO pages(doc_id, number, char_begin, text) VALUES (?1, ?2, ?3, ?4)";
constexpr const char kInsertChunk[] =
    "INSERT INTO chunks(doc_id, ordinal, first_page, last_page, char_begin, char_end, text, "
    "token_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char kDocumentColumns[] =
    "SELECT id, path, title, author, coalesce(content_hash, ''), kind, pages, bytes, mtime, "
    "imported_at, status, error FROM documents ORDER BY id";
constexpr const char kDocumentById[] =
    "SELECT id, path, title, author, coalesce(content_hash, ''), kind, pages, bytes, mtime, "
    "imported_at, status, error FROM documents WHERE id = ?1";
constexpr const char kPageByNumber[] = "SELECT text FROM pages WHERE doc_id = ?1 AND number = ?2";
constexpr const char kChunksOfDocument[] =
    "SELECT id, ordinal, first_page, last_page, char_begin, char_end, text, token_count "
    "FROM chunks WHERE doc_id = ?1 ORDER BY ordinal";
constexpr const char kSetTokenCount[] = "UPDATE chunks SET token_count = ?2 WHERE id = ?1";
constexpr const char kPutEmbedding[] =
    "INSERT OR REPLACE INTO chunk_embeddings(chunk_id, model_key, dim, vector) "
    "VALUES (?1, ?2, ?3, ?4)";
constexpr const char kGetEmbedding[] =
    "SELECT vector FROM chunk_embeddings WHERE chunk_id = ?1 AND model_key = ?2";
constexpr const char kEmbeddingsOfModel[] =
    "SELECT chunk_id, vector FROM chunk_embeddings WHERE model_key = ?1 ORDER BY chunk_id";
constexpr const char kInsertConversation[] =
    "INSERT INTO conversations(title, doc_ids, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
constexpr const char kInsertMessage[] =
    "INSERT INTO messages(conversation_id, role, text, meta, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char kTouchConversation[] =
    "UPDATE conversations SET updated_at = ?2 WHERE id = ?1";
constexpr const char kMessagesOfConversation[] =
    "SELECT id, role, text, meta, created_at FROM messages WHERE conversation_id = ?1 "
    "ORDER BY id";

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DocumentKind KindFromName(std::string_view name) {
  if (name == "pdf") return DocumentKind::kPdf;
  if (name == "markdown") return DocumentKind::kMarkdown;
  return DocumentKind::kText;
}

DocumentInfo ReadDocumentRow(const sql::Statement& st) {
  DocumentInfo d;
  d.id = st.ColumnInt64(0);
  d.path = st.ColumnText(1);
  d.title = st.ColumnText(2);
  d.author = st.ColumnText(3);
  d.content_hash = st.ColumnText(4);
  d.kind = KindFromName(st.ColumnTextView(5));
  d.pages = st.ColumnInt(6);
  d.bytes = st.ColumnInt64(7);
  d.mtime = st.ColumnInt64(8);
  d.imported_at = st.ColumnInt64(9);
  d.status = st.ColumnText(10);
  d.error = st.ColumnText(11);
  return d;
}

// float32 vectors are stored as little-endian bytes (every platform we build for).
std::vector<float> FloatsFromBlob(const std::vector<uint8_t>& blob) {
  std::vector<float> v(blob.size() / sizeof(float));
  if (!v.empty()) std::memcpy(v.data(), blob.data(), v.size() * sizeof(float));
  return v;
}

std::string JsonIdArray(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

std::string TimestampForFileName() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

const char* StoreActionName(StoreAction a) {
  switch (a) {
    case StoreAction::kAdded:
      return "added";
    case StoreAction::kUnchanged:
      return "unchanged";
    case StoreAction::kReplaced:
      return "replaced";
  }
  return "added";
}

// ---- paths ----------------------------------------------------------------------

Result<std::string> ResolveLibraryPath(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return *flag;
  if (const char* env = std::getenv("FOLIO_LIBRARY"); env && *env) return std::string(env);
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "folio" / "library.sqlite").string();
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return (fs::path(home) / ".local" / "share" / "folio" / "library.sqlite").string();
  }
  return NotFound("cannot tell where the library lives: HOME is not set; pass --library PATH");
}

// ---- open -----------------------------------------------------------------------

Result<std::unique_ptr<Library>> Library::Open(const std::string& path,
                                               const sql::OpenOptions& options) {
  if (path.empty()) return InvalidArgument("the library path is empty");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return IoError("cannot create the folder " + parent.string() + ": " + ec.message());
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return InvalidArgument(path + " is a folder; the library is a file (e.g. library.sqlite)");
  }
  sql::OpenOptions checked_first = options;
  checked_first.wal = false;  // a newer or foreign file must not be touched, not even its header
  FOLIO_ASSIGN_OR_RETURN(auto db, sql::Database::Open(path, checked_first));
  FOLIO_RETURN_IF_ERROR(CheckCompatible(*db).WithContext(path));
  if (options.wal) FOLIO_RETURN_IF_ERROR(db->EnableWal());
  FOLIO_RETURN_IF_ERROR(MigrateToCurrent(*db).WithContext(path));
  FOLIO_RETURN_IF_ERROR(RegisterRankFunction(*db));
  return std::unique_ptr<Library>(new Library(std::move(db)));
}

Result<std::string> Library::MoveDamagedAside(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound(path + " does not exist; nothing to move aside");
  std::string target = path + ".damaged-" + TimestampForFileName();
  for (int n = 1; fs::exists(target, ec); ++n) {
    target = path + ".damaged-" + TimestampForFileName() + "-" + std::to_string(n);
  }
  // The -wal file holds committed pages of the old store: it travels with it.
  for (const char* suffix : {"-wal", "-shm"}) {
    if (fs::exists(path + suffix, ec)) {
      fs::rename(path + suffix, target + suffix, ec);
      if (ec) return IoError("cannot move " + path + suffix + " aside: " + ec.message());
    }
  }
  fs::rename(path, target, ec);
  if (ec) return IoError("cannot move " + path + " aside: " + ec.message());
  return target;
}

// ---- documents ------------------------------------------------------------------

Status ValidateImportedDocument(const ImportedDocument& doc) {
  if (doc.path.empty()) return InvalidArgument("the document has no path");
  if (doc.content_hash.empty()) return InvalidArgument(doc.path + ": no content hash");
  int64_t total = 0;
  for (size_t i = 0; i < doc.pages.size(); ++i) {
    if (doc.pages[i].number != static_cast<int>(i) + 1) {
      return InvalidArgument(doc.path + ": pages must be numbered 1.." +
                             std::to_string(doc.pages.size()) + " in order; page " +
                             std::to_string(i + 1) + " is numbered " +
                             std::to_string(doc.pages[i].number));
    }
    if (i) total += static_cast<int64_t>(std::strlen(kPageSeparator));
    total += static_cast<int64_t>(doc.pages[i].text.size());
  }
  const int n_pages = static_cast<int>(doc.pages.size());
  for (const Chunk& c : doc.chunks) {
    const std::string which = doc.path + ": chunk " + std::to_string(c.ordinal);
    if (c.first_page < 1 || c.last_page < c.first_page || c.last_page > n_pages) {
      return InvalidArgument(which + " spans pages " + std::to_string(c.first_page) + "-" +
                             std::to_string(c.last_page) + " of " + std::to_string(n_pages));
    }
    if (c.char_begin < 0 || c.char_end < c.char_begin || c.char_end > total) {
      return InvalidArgument(which + " has bytes " + std::to_string(c.char_begin) + "-" +
                             std::to_string(c.char_end) + " outside the text's " +
                             std::to_string(total));
    }
  }
  return Status::Ok();
}

Result<StoreResult> Library::StoreDocument(const ImportedDocument& doc) {
  FOLIO_RETURN_IF_ERROR(ValidateImportedDocument(doc));
  const std::string what = "storing " + doc.path;
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin().WithContext(what));
  FOLIO_ASSIGN_OR_RETURN(auto existing, FindByHashLocked(doc.content_hash));
  if (existing) return StoreResult{*existing, StoreAction::kUnchanged};  // tx rolls back
  bool replaced = false;
  FOLIO_RETURN_IF_ERROR(
      RemoveOtherVersions(doc.path, doc.content_hash, &replaced).WithContext(what));
  FOLIO_ASSIGN_OR_RETURN(int64_t id, InsertDocumentRow(doc));
  FOLIO_RETURN_IF_ERROR(InsertPages(id, doc).WithContext(what));
  FOLIO_RETURN_IF_ERROR(InsertChunks(id, doc).WithContext(what));
  FOLIO_RETURN_IF_ERROR(tx.Commit().WithContext(what));
  return StoreResult{id, replaced ? StoreAction::kReplaced : StoreAction::kAdded};
}

Result<std::optional<int64_t>> Library::FindByHashLocked(const std::string& content_hash) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kFindByHash));
  st.Bind(1, content_hash);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(st.ColumnInt64(0));
}

Result<std::optional<int64_t>> Library::FindByHash(const std::string& content_hash) {
  return FindByHashLocked(content_hash);
}

// Older versions of the file (and failed attempts at it) go; ON DELETE CASCADE removes
// their pages, chunks and embeddings, and the chunk trigger their FTS rows.
Status Library::RemoveOtherVersions(const std::string& path, const std::string& content_hash,
                                    bool* removed) {
  std::vector<int64_t> ids;
  {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kFindOtherVersions));
    st.Bind(1, path);
    st.Bind(2, content_hash);
    for (;;) {
      FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ids.push_back(st.ColumnInt64(0));
    }
  }
  for (int64_t id : ids) {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement del, db_->Prepare(kDeleteDocument));
    del.Bind(1, id);
    FOLIO_RETURN_IF_ERROR(del.Run());
  }
  *removed = !ids.empty();
  return Status::Ok();
}

Result<int64_t> Library::InsertDocumentRow(const ImportedDocument& doc) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertDocument));
  st.Bind(":path", doc.path);
  st.Bind(":title", doc.title);
  st.Bind(":author", doc.author);
  st.Bind(":hash", doc.content_hash);
  st.Bind(":kind", DocumentKindName(doc.kind));
  st.Bind(":pages", static_cast<int64_t>(doc.pages.size()));
  st.Bind(":bytes", doc.bytes);
  st.Bind(":mtime", doc.mtime);
  st.Bind(":now", NowSeconds());
  FOLIO_RETURN_IF_ERROR(st.Run().WithContext("storing " + doc.path));
  return db_->LastInsertRowId();
}

Status Library::InsertPages(int64_t doc_id, const ImportedDocument& doc) {
  int64_t offset = 0;
  const auto sep = static_cast<int64_t>(std::strlen(kPageSeparator));
  for (const Page& p : doc.pages) {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertPage));
    st.Bind(1, doc_id);
    st.Bind(2, p.number);
    st.Bind(3, offset);
    st.Bind(4, p.text);
    FOLIO_RETURN_IF_ERROR(st.Run().WithContext("page " + std::to_string(p.number)));
    offset += static_cast<int64_t>(p.text.size()) + sep;
  }
  return Status::Ok();
}

Status Library::InsertChunks(int64_t doc_id, const ImportedDocument& doc) {
  for (const Chunk& c : doc.chunks) {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertChunk));
    st.Bind(1, doc_id);
    st.Bind(2, c.ordinal);
    st.Bind(3, c.first_page);
    st.Bind(4, c.last_page);
    st.Bind(5, c.char_begin);
    st.Bind(6, c.char_end);
    st.Bind(7, c.text);
    if (c.token_count >= 0) {
      st.Bind(8, c.token_count);
    } else {
      st.BindNull(8);
    }
    FOLIO_RETURN_IF_ERROR(st.Run().WithContext("chunk " + std::to_string(c.ordinal)));
  }
  return Status::Ok();
}

Result<int64_t> Library::RecordFailedImport(const std::string& path, DocumentKind kind,
                                            const std::string& error) {
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement del, db_->Prepare(kDeleteFailedAtPath));
    del.Bind(1, path);
    FOLIO_RETURN_IF_ERROR(del.Run());
  }
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertFailed));
  st.Bind(1, path);
  st.Bind(2, DocumentKindName(kind));
  st.Bind(3, NowSeconds());
  st.Bind(4, error);
  FOLIO_RETURN_IF_ERROR(st.Run());
  const int64_t id = db_->LastInsertRowId();
  FOLIO_RETURN_IF_ERROR(tx.Commit());
  return id;
}

Status Library::RemoveDocument(int64_t doc_id) {
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kDeleteDocument));
  st.Bind(1, doc_id);
  FOLIO_RETURN_IF_ERROR(st.Run().WithContext("removing document " + std::to_string(doc_id)));
  if (db_->Changes() == 0) return NotFound("no document with id " + std::to_string(doc_id));
  return tx.Commit();
}

Result<std::vector<DocumentInfo>> Library::ListDocuments() {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kDocumentColumns));
  std::vector<DocumentInfo> out;
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back(ReadDocumentRow(st));
  }
}

Result<DocumentInfo> Library::GetDocument(int64_t doc_id) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kDocumentById));
  st.Bind(1, doc_id);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no document with id " + std::to_string(doc_id));
  return ReadDocumentRow(st);
}

Result<Page> Library::GetPage(int64_t doc_id, int number) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kPageByNumber));
  st.Bind(1, doc_id);
  st.Bind(2, number);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return NotFound("document " + std::to_string(doc_id) + " has no page " +
                    std::to_string(number));
  }
  return Page{number, st.ColumnText(0)};
}

Result<std::vector<StoredChunk>> Library::GetChunks(int64_t doc_id) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kChunksOfDocument));
  st.Bind(1, doc_id);
  std::vector<StoredChunk> out;
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    StoredChunk s;
    s.id = st.ColumnInt64(0);
    s.doc_id = doc_id;
    s.chunk.ordinal = st.ColumnInt(1);
    s.chunk.first_page = st.ColumnInt(2);
    s.chunk.last_page = st.ColumnInt(3);
    s.chunk.char_begin = st.ColumnInt64(4);
    s.chunk.char_end = st.ColumnInt64(5);
    s.chunk.text = st.ColumnText(6);
    s.chunk.token_count = st.ColumnIsNull(7) ? -1 : st.ColumnInt(7);
    out.push_back(std::move(s));
  }
}

Status Library::SetChunkTokenCounts(const std::vector<std::pair<int64_t, int>>& counts) {
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  for (const auto& [chunk_id, count] : counts) {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kSetTokenCount));
    st.Bind(1, chunk_id);
    st.Bind(2, count);
    FOLIO_RETURN_IF_ERROR(st.Run());
  }
  return tx.Commit();
}

// ---- embeddings -----------------------------------------------------------------

Status Library::PutEmbeddings(const std::string& model_key,
                              const std::vector<ChunkEmbedding>& rows) {
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  for (const ChunkEmbedding& e : rows) {
    if (e.vector.empty())
      return InvalidArgument("empty embedding for chunk " + std::to_string(e.chunk_id));
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kPutEmbedding));
    st.Bind(1, e.chunk_id);
    st.Bind(2, model_key);
    st.Bind(3, static_cast<int64_t>(e.vector.size()));
    st.BindBlob(4, e.vector.data(), e.vector.size() * sizeof(float));
    FOLIO_RETURN_IF_ERROR(st.Run().WithContext("embedding of chunk " + std::to_string(e.chunk_id)));
  }
  return tx.Commit();
}

Result<std::optional<std::vector<float>>> Library::GetEmbedding(int64_t chunk_id,
                                                                const std::string& model_key) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kGetEmbedding));
  st.Bind(1, chunk_id);
  st.Bind(2, model_key);
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::vector<float>>();
  return std::optional<std::vector<float>>(FloatsFromBlob(st.ColumnBlob(0)));
}

Result<std::vector<ChunkEmbedding>> Library::GetEmbeddings(const std::string& model_key) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kEmbeddingsOfModel));
  st.Bind(1, model_key);
  std::vector<ChunkEmbedding> out;
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back({st.ColumnInt64(0), FloatsFromBlob(st.ColumnBlob(1))});
  }
}

// ---- conversations --------------------------------------------------------------

Result<int64_t> Library::CreateConversation(const std::string& title,
                                            const std::vector<int64_t>& doc_ids) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertConversation));
  st.Bind(1, title);
  st.Bind(2, JsonIdArray(doc_ids));
  st.Bind(3, NowSeconds());
  FOLIO_RETURN_IF_ERROR(st.Run().WithContext("creating a conversation"));
  return db_->LastInsertRowId();
}

Result<int64_t> Library::AppendMessage(int64_t conversation_id, const std::string& role,
                                       const std::string& text, const std::string& meta_json) {
  sql::Transaction tx(*db_);
  FOLIO_RETURN_IF_ERROR(tx.Begin());
  const int64_t now = NowSeconds();
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kInsertMessage));
  st.Bind(1, conversation_id);
  st.Bind(2, role);
  st.Bind(3, text);
  st.Bind(4, meta_json);
  st.Bind(5, now);
  FOLIO_RETURN_IF_ERROR(st.Run().WithContext("saving a message"));
  const int64_t id = db_->LastInsertRowId();
  FOLIO_ASSIGN_OR_RETURN(sql::Statement touch, db_->Prepare(kTouchConversation));
  touch.Bind(1, conversation_id);
  touch.Bind(2, now);
  FOLIO_RETURN_IF_ERROR(touch.Run());
  FOLIO_RETURN_IF_ERROR(tx.Commit());
  return id;
}

Result<std::vector<ConversationMessage>> Library::ListMessages(int64_t conversation_id) {
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->Prepare(kMessagesOfConversation));
  st.Bind(1, conversation_id);
  std::vector<ConversationMessage> out;
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back({st.ColumnInt64(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3),
                   st.ColumnInt64(4)});
  }
}

// ---- integrity ------------------------------------------------------------------

Status Library::CheckIntegrity() {
  {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db_->PrepareUncached("PRAGMA integrity_check"));
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Internal("integrity_check returned nothing");
    if (st.ColumnTextView(0) != "ok") return Corrupt("store damaged: " + st.ColumnText(0));
  }
  // FTS5's own check compares the index with the content table (SQLITE_CORRUPT_VTAB).
  Status s = db_->Exec("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')");
  if (!s.ok())
    return Corrupt("store damaged: the search index does not match the chunks: " + s.message());
  return Status::Ok();
}

}  // namespace folio::docstore
