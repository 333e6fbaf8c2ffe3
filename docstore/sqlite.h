// A thin RAII layer over the system libsqlite3: Database (one connection), Statement (a
// prepared statement, cached per connection), Transaction (BEGIN IMMEDIATE, rolled back
// unless committed). Every failure comes back as a folio::Status whose code says what a
// caller can do about it (kCorrupt: the store is damaged; kResourceExhausted: disk full;
// kTimeout: another writer held the lock past the busy timeout).
//
// A connection is used by one thread at a time; threads that work at once open their own
// connections (WAL lets readers run beside the single writer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace folio::docstore::sql {

// Maps an SQLite result code (and the connection's last message) to a Status.
// `what` says what was being done: "storing 'report.pdf'".
Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what);

class Database;

// A prepared statement. Binds are 1-based like SQLite's; a failed bind is remembered and
// returned by the next Step()/Run(), so call sites stay linear.
// Move-only; a statement from the connection's cache is reset (not finalized) on destruction.
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void Bind(int index, int64_t v);
  void Bind(int index, int v) { Bind(index, static_cast<int64_t>(v)); }
  void Bind(int index, double v);
  void Bind(int index, std::string_view text);  // copied by SQLite (SQLITE_TRANSIENT)
  void Bind(int index, const char* text) { Bind(index, std::string_view(text)); }
  void Bind(int index, const std::string& text) { Bind(index, std::string_view(text)); }
  void BindBlob(int index, const void* data, size_t size);
  void BindNull(int index);
  // Named parameters (":name"); an unknown name is a bind error.
  template <typename T>
  void Bind(const char* name, const T& v) {
    Bind(ParameterIndex(name), v);
  }
  int ParameterIndex(const char* name);

  // Advances: true when a row is ready, false when the statement is done.
  Result<bool> Step();
  // Steps to completion, ignoring any rows (INSERT/UPDATE/DELETE/DDL).
  Status Run();
  // Ready for new binds and steps.
  void Reset();

  int64_t ColumnInt64(int col) const;
  int ColumnInt(int col) const { return static_cast<int>(ColumnInt64(col)); }
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;           // "" for NULL
  std::string_view ColumnTextView(int col) const;  // valid until the next Step/Reset
  std::vector<uint8_t> ColumnBlob(int col) const;
  bool ColumnIsNull(int col) const;

  bool valid() const { return stmt_ != nullptr; }

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, Database* db, bool* in_use_flag);
  void Release();

  sqlite3_stmt* stmt_ = nullptr;
  Database* db_ = nullptr;
  bool* in_use_ = nullptr;  // the cache entry's flag when cached; nullptr when owned
  Status bind_error_;
};

struct OpenOptions {
  bool create = true;           // create the file when absent
  int busy_timeout_ms = 10000;  // how long a writer waits for another before giving up
  bool wal = true;  // false: leave the journal mode alone (call EnableWal() once checked)
};

class Database {
 public:
  // Opens (or creates) the file, switches to WAL, foreign_keys=ON, synchronous=NORMAL and
  // a busy timeout; reads the schema so a damaged or non-SQLite file fails here (kCorrupt)
  // rather than at the first query. The file is never modified when it is damaged.
  static Result<std::unique_ptr<Database>> Open(const std::string& path, const OpenOptions& opt);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Prepares `sql` once per connection, keyed by the constant's address: pass named
  // constants (static storage), never strings built at run time. When the cached one is
  // busy (a nested use of the same query) a fresh, owned statement is returned.
  Result<Statement> Prepare(const char* sql);
  // Prepares without caching (for one-off statements).
  Result<Statement> PrepareUncached(std::string_view sql);
  // Switches the file to WAL: readers never block the writer, and a crash mid-commit
  // leaves the previous state. Writes the file header, so only for files known to be ours.
  Status EnableWal();
  // Runs one or more statements without parameters (DDL, PRAGMAs).
  Status Exec(const char* sql, std::string_view what = "updating the library");

  int64_t LastInsertRowId() const;
  int Changes() const;
  bool InTransaction() const;  // false in autocommit mode (e.g. after SQLite rolled back)
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  Status Error(int rc, std::string_view what) const { return StatusFromSqlite(rc, db_, what); }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Configure(const OpenOptions& opt);

  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_ = nullptr;
  std::string path_;
  // Keyed by the SQL constant's address; unique_ptr keeps each in_use flag's address stable.
  std::unordered_map<const char*, std::unique_ptr<CachedStatement>> cache_;
};

// BEGIN IMMEDIATE: takes the write lock up front (waiting up to the busy timeout), so two
// writers never deadlock upgrading read locks. Rolled back on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  Status Commit();
  void Rollback();  // safe when SQLite already rolled back on its own (SQLITE_FULL, ...)

 private:
  Database& db_;
  bool active_ = false;
};

}  // namespace folio::docstore::sql
