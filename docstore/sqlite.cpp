#include "docstore/sqlite.h"

#include <sqlite3.h>

#include <cstring>
#include <utility>

namespace folio::docstore::sql {

Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what) {
  const int primary = rc & 0xff;
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string context(what);
  switch (primary) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Corrupt("store damaged: " + context + ": " + detail);
    case SQLITE_FULL:
      return ResourceExhausted(context + ": the disk is full (" + detail +
                               "); nothing was changed, free some space and try again");
    case SQLITE_NOMEM:
      return ResourceExhausted(context + ": out of memory");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return IoError(context + ": " + detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Timeout(context + ": the library stayed busy with another writer (" + detail +
                     "); try again");
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return InvalidArgument(context + ": " + detail);
    case SQLITE_INTERRUPT:
      return Cancelled(context + ": interrupted");
    default:
      return Internal(context + ": " + detail + " (sqlite code " + std::to_string(rc) + ")");
  }
}

// ---- Statement ------------------------------------------------------------------

Statement::Statement(sqlite3_stmt* stmt, Database* db, bool* in_use_flag)
    : stmt_(stmt), db_(db), in_use_(in_use_flag) {
  if (in_use_) *in_use_ = true;
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(std::exchange(other.db_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    Release();
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = std::exchange(other.db_, nullptr);
    in_use_ = std::exchange(other.in_use_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() {
  Release();
}

void Statement::Release() {
  if (!stmt_) return;
  if (in_use_) {
    // Back to the cache: reset so it holds no read lock, and drop the old bindings.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
  stmt_ = nullptr;
  in_use_ = nullptr;
}

namespace {
void NoteBind(Status* first_error, int rc, sqlite3_stmt* stmt, int index) {
  if (rc == SQLITE_OK || !first_error->ok()) return;
  *first_error =
      StatusFromSqlite(rc, sqlite3_db_handle(stmt), "binding parameter " + std::to_string(index));
}
}  // namespace

void Statement::Bind(int index, int64_t v) {
  NoteBind(&bind_error_, sqlite3_bind_int64(stmt_, index, v), stmt_, index);
}
void Statement::Bind(int index, double v) {
  NoteBind(&bind_error_, sqlite3_bind_double(stmt_, index, v), stmt_, index);
}
void Statement::Bind(int index, std::string_view text) {
  // A non-null pointer even for "": a null one would bind NULL, not an empty string.
  const char* p = text.data() ? text.data() : "";
  NoteBind(&bind_error_,
           sqlite3_bind_text64(stmt_, index, p, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8), stmt_,
           index);
}
void Statement::BindBlob(int index, const void* data, size_t size) {
  static const char kEmpty = 0;
  NoteBind(&bind_error_,
           sqlite3_bind_blob64(stmt_, index, data ? data : &kEmpty, size, SQLITE_TRANSIENT), stmt_,
           index);
}
void Statement::BindNull(int index) {
  NoteBind(&bind_error_, sqlite3_bind_null(stmt_, index), stmt_, index);
}

int Statement::ParameterIndex(const char* name) {
  const int i = sqlite3_bind_parameter_index(stmt_, name);
  if (i == 0 && bind_error_.ok()) {
    bind_error_ = Internal(std::string("no SQL parameter named ") + name);
  }
  return i;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // sqlite3_errmsg describes the step's failure; keep the SQL out of user-facing text.
  Status s = StatusFromSqlite(rc, sqlite3_db_handle(stmt_), "running a query");
  sqlite3_reset(stmt_);
  return s;
}

Status Statement::Run() {
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = Status::Ok();
}

int64_t Statement::ColumnInt64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
double Statement::ColumnDouble(int col) const {
  return sqlite3_column_double(stmt_, col);
}
std::string_view Statement::ColumnTextView(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}
std::string Statement::ColumnText(int col) const {
  return std::string(ColumnTextView(col));
}
std::vector<uint8_t> Statement::ColumnBlob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}
bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// ---- Database -------------------------------------------------------------------

Result<std::unique_ptr<Database>> Database::Open(const std::string& path, const OpenOptions& opt) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (opt.create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = StatusFromSqlite(rc, raw, "opening the library " + path);
    sqlite3_close_v2(raw);  // a handle is returned even on failure
    return s;
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  FOLIO_RETURN_IF_ERROR(db->Configure(opt));
  return db;
}

Status Database::Configure(const OpenOptions& opt) {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, opt.busy_timeout_ms);
  // Reading the schema first: a non-SQLite or damaged header fails here (NOTADB/CORRUPT)
  // before anything below could write to the file.
  FOLIO_RETURN_IF_ERROR(Exec("SELECT count(*) FROM sqlite_schema", path_));
  // A 16 MB page cache per connection (SQLite's default is 2 MB): the FTS index of a large
  // library is read in many small pieces. No mmap: an I/O error must stay an error, not SIGBUS.
  FOLIO_RETURN_IF_ERROR(Exec(
      "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384; "
      "PRAGMA temp_store=MEMORY;"));
  return opt.wal ? EnableWal() : Status::Ok();
}

Status Database::EnableWal() {
  FOLIO_ASSIGN_OR_RETURN(Statement wal, PrepareUncached("PRAGMA journal_mode=WAL"));
  FOLIO_ASSIGN_OR_RETURN(bool row, wal.Step());
  if (!row || wal.ColumnText(0) != "wal") {
    return IoError(path_ + ": cannot switch the library to WAL mode (is it on a network drive?)");
  }
  return Status::Ok();
}

Database::~Database() {
  for (auto& [sql, entry] : cache_) sqlite3_finalize(entry->stmt);
  sqlite3_close_v2(db_);
}

Result<Statement> Database::Prepare(const char* sql) {
  auto& entry = cache_[sql];
  if (!entry) entry = std::make_unique<CachedStatement>();
  if (entry->in_use) return PrepareUncached(sql);
  if (!entry->stmt) {
    const int rc =
        sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &entry->stmt, nullptr);
    if (rc != SQLITE_OK) {
      entry->stmt = nullptr;
      return Error(rc, "preparing a query");
    }
  }
  return Statement(entry->stmt, this, &entry->in_use);
}

Result<Statement> Database::PrepareUncached(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "preparing a query");
  return Statement(stmt, this, nullptr);
}

Status Database::Exec(const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(rc, what);
}

int64_t Database::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(db_);
}
int Database::Changes() const {
  return sqlite3_changes(db_);
}
bool Database::InTransaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

// ---- Transaction ----------------------------------------------------------------

Transaction::~Transaction() {
  Rollback();
}

Status Transaction::Begin() {
  FOLIO_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  active_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  if (!active_) return Internal("commit without an open transaction");
  Status s = db_.Exec("COMMIT");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  active_ = false;
  return Status::Ok();
}

void Transaction::Rollback() {
  if (!active_) return;
  active_ = false;
  // After SQLITE_FULL/IOERR/NOMEM SQLite may already have rolled back by itself.
  if (db_.InTransaction()) (void)db_.Exec("ROLLBACK");
}

}  // namespace folio::docstore::sql
