// Errors as values at library boundaries: Status carries a message a person can act on,
// Result<T> carries either a value or a Status. No exception crosses a library boundary.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace folio {

// What kind of failure, so callers can react (for example, CLI exit codes) without
// parsing messages.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,   // the caller passed something wrong (bad token id, bad option)
  kNotFound,          // a file, tensor or record that should exist does not
  kCorrupt,           // a file's contents are malformed (header, JSON, offsets)
  kUnsupported,       // well-formed but not something we run (architecture, dtype)
  kResourceExhausted, // too large for memory, context or a cap
  kIo,                // the operating system said no (open, mmap, read, write)
  kCancelled,         // stopped on request
  kTimeout,           // took longer than allowed
  kInternal,          // a bug: should never happen
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context ("model.safetensors: ") to the message; keeps the code.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status Corrupt(std::string m) { return {ErrorCode::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status ResourceExhausted(std::string m) {
  return {ErrorCode::kResourceExhausted, std::move(m)};
}
inline Status IoError(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status Cancelled(std::string m) { return {ErrorCode::kCancelled, std::move(m)}; }
inline Status Timeout(std::string m) { return {ErrorCode::kTimeout, std::move(m)}; }
inline Status Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

// A value or an error. Construct from T (success) or from a non-ok Status (failure).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace folio

// Early return on error, for functions returning Status or Result<U>.
#define FOLIO_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::folio::Status folio_status_ = (expr);    \
    if (!folio_status_.ok()) return folio_status_; \
  } while (0)

#define FOLIO_CONCAT_INNER_(a, b) a##b
#define FOLIO_CONCAT_(a, b) FOLIO_CONCAT_INNER_(a, b)
// FOLIO_ASSIGN_OR_RETURN(auto x, MakeX()); returns the error Status if MakeX failed.
#define FOLIO_ASSIGN_OR_RETURN(lhs, expr) \
  FOLIO_ASSIGN_OR_RETURN_IMPL_(FOLIO_CONCAT_(folio_result_, __LINE__), lhs, expr)
#define FOLIO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
