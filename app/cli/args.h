// Command-line arguments for folio-cli: `--key value`, `--key=value`, `--flag`, and
// positionals, in any order (so `--library PATH` can go anywhere on the line).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/status.h"

namespace folio::cli {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitPartial = 1;   // some work failed, the rest was done (ingest)
inline constexpr int kExitBadInput = 2;  // missing or bad input: one line on stderr

class Args {
 public:
  // `flags` are options that take no value (e.g. "--json", "--greedy").
  Args(int argc, char** argv, int first, const std::set<std::string>& flags);

  // Value of --name, or nullopt. Marks it as used.
  std::optional<std::string> Get(const std::string& name);
  std::string GetOr(const std::string& name, const std::string& fallback);
  // Integer/float values; on a malformed number, sets error() and returns the fallback.
  int64_t GetInt(const std::string& name, int64_t fallback);
  double GetDouble(const std::string& name, double fallback);
  bool Flag(const std::string& name);
  const std::vector<std::string>& positionals() const { return positionals_; }

  // Non-empty when parsing failed or an option was malformed.
  const std::string& error() const { return error_; }
  // Options given but never asked for (typos): "unknown option --x".
  std::string UnusedOptions() const;

 private:
  struct Opt {
    std::string name;
    std::optional<std::string> value;
    bool used = false;
  };
  Opt* Find(const std::string& name);
  std::vector<Opt> opts_;
  std::vector<std::string> positionals_;
  std::string error_;
};

// Prints "folio-cli: MESSAGE" as one line on stderr (control characters shown as '?', so
// a file name cannot break the one-line promise) and returns kExitBadInput.
int Fail(const std::string& message);
// The same for an error value: a bug (kInternal) exits kExitPartial, anything else
// kExitBadInput.
int Fail(const Status& status);

// Reports the weights' upload to the GPU on stderr, in steps of 10% (a
// CudaBackendOptions::progress callback; it keeps its own state).
std::function<void(uint64_t done, uint64_t total)> GpuUploadProgress();

// Parses "5,17,301" into ids; false on anything else.
bool ParseIdList(const std::string& s, std::vector<int64_t>* out);

}  // namespace folio::cli
