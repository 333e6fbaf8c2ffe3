#include "docstore/pdf_import.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "docstore/text_import.h"

extern char** environ;

namespace folio::docstore {
namespace {

using Clock = std::chrono::steady_clock;

// One helper run: how it ended and what it sent.
struct HelperRun {
  PdfContent content;
  int page_count = -1;    // from the 'I' frame
  bool finished = false;  // got 'Z'
  char error_tag = 0;     // from an 'E' frame
  std::string error_message;
  Status parent_error;  // a cap or timeout the parent enforced (the helper was killed)
  int wait_status = 0;
  std::string stderr_tail;  // the helper's last words, for crash diagnosis
};

uint32_t GetU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(s[at + i])} << (8 * i);
  return v;
}

bool IsExecutable(const std::string& p) {
  return !p.empty() && ::access(p.c_str(), X_OK) == 0;
}

// Replaces malformed UTF-8 by U+FFFD so that everything stored is valid UTF-8.
std::string RepairUtf8(std::string s) {
  if (IsValidUtf8(s)) return s;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    if (c < 0x80 || (i + len <= s.size() && IsValidUtf8(std::string_view(s).substr(i, len)))) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Parses complete frames from the front of `buf` into `run`; returns a non-ok Status when
// the helper broke a cap (the caller kills it).
Status ParseFrames(std::string* buf, const PdfImportOptions& opt, int64_t* text_bytes,
                   HelperRun* run) {
  size_t at = 0;
  while (buf->size() - at >= 5) {
    const char tag = (*buf)[at];
    const uint32_t len = GetU32(*buf, at + 1);
    if (len > opt.limits.max_text_bytes + 65536) {
      return ResourceExhausted("too large: a page has more text than the limit allows");
    }
    if (buf->size() - at - 5 < len) break;
    std::string payload = buf->substr(at + 5, len);
    at += 5 + len;
    if (tag == 'I' && payload.size() >= 8) {
      run->page_count = static_cast<int>(GetU32(payload, 0));
      size_t p = 4;
      for (std::string* field : {&run->content.title, &run->content.author}) {
        if (payload.size() < p + 4) break;
        const uint32_t n = GetU32(payload, p);
        if (payload.size() < p + 4 + n) break;
        *field = RepairUtf8(payload.substr(p + 4, n));
        p += 4 + n;
      }
      if (run->page_count > opt.limits.max_pages) {
        return ResourceExhausted("too large: " + std::to_string(run->page_count) +
                                 " pages (the limit is " + std::to_string(opt.limits.max_pages) +
                                 ")");
      }
    } else if (tag == 'P') {
      *text_bytes += len;
      if (*text_bytes > opt.limits.max_text_bytes) {
        return ResourceExhausted("too large: more than " +
                                 std::to_string(opt.limits.max_text_bytes >> 20) + " MB of text");
      }
      const int number = static_cast<int>(run->content.pages.size()) + 1;
      if (run->page_count >= 0 && number > run->page_count) {
        return Corrupt("damaged or not a PDF (the reader sent more pages than it announced)");
      }
      run->content.pages.push_back({number, RepairUtf8(std::move(payload))});
      if (opt.progress) opt.progress(number, run->page_count);
    } else if (tag == 'E' && !payload.empty()) {
      run->error_tag = payload[0];
      run->error_message = payload.substr(1);
    } else if (tag == 'Z') {
      run->finished = true;
    }
  }
  buf->erase(0, at);
  return Status::Ok();
}

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const { return fds_[0] >= 0; }
  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  void CloseRead() { CloseFd(&fds_[0]); }
  void CloseWrite() { CloseFd(&fds_[1]); }

 private:
  static void CloseFd(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  int fds_[2];
};

Result<pid_t> SpawnHelper(const std::string& helper, const std::string& path,
                          const PdfLimits& limits, Pipe* in, Pipe* out, Pipe* err) {
  const auto cpu_seconds = static_cast<long long>(std::ceil(limits.timeout_seconds)) + 1;
  std::vector<std::string> args = {helper,
                                   "--max-pages",
                                   std::to_string(limits.max_pages),
                                   "--max-bytes",
                                   std::to_string(limits.max_text_bytes),
                                   "--memory-bytes",
                                   std::to_string(limits.helper_memory_bytes),
                                   "--cpu-seconds",
                                   std::to_string(cpu_seconds),
                                   "--parent",
                                   std::to_string(::getpid()),
                                   path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in->read_fd(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out->write_fd(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err->write_fd(), STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);    // the helper must be killable and timeable
  posix_spawnattr_setsigdefault(&attr, &all);  // no inherited SIG_IGN (SIGPIPE, SIGXCPU)
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, helper.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return IoError("cannot start the PDF reader " + helper + ": " + std::strerror(rc));
  return pid;
}

// Reads the helper's frames until it exits or a cap/timeout is hit (then kills it).
void Supervise(pid_t pid, Pipe* out, Pipe* err, const PdfImportOptions& opt, HelperRun* run) {
  const auto start = Clock::now();
  auto last_frame = start;
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  std::string buf;
  int64_t text_bytes = 0;
  bool out_open = true, err_open = true;
  char chunk[1 << 16];
  while (out_open && run->parent_error.ok()) {
    const auto now = Clock::now();
    const auto deadline = std::min(start + seconds(opt.limits.timeout_seconds),
                                   last_frame + seconds(opt.limits.page_timeout_seconds));
    if (now >= deadline) {
      const double took = std::chrono::duration<double>(now - start).count();
      run->parent_error =
          Timeout("timed out after " + std::to_string(static_cast<int>(took)) + " s (" +
                  std::to_string(run->content.pages.size()) + " pages read)");
      break;
    }
    pollfd fds[2] = {{out->read_fd(), POLLIN, 0}, {err_open ? err->read_fd() : -1, POLLIN, 0}};
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(wait_ms + 1, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (err_open && fds[1].revents) {
      const ssize_t n = ::read(err->read_fd(), chunk, sizeof chunk);
      if (n <= 0) {
        err_open = false;
      } else {
        run->stderr_tail.append(chunk, static_cast<size_t>(n));
        if (run->stderr_tail.size() > 4096)
          run->stderr_tail.erase(0, run->stderr_tail.size() - 4096);
      }
    }
    if (fds[0].revents) {
      const ssize_t n = ::read(out->read_fd(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out_open = false;
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
      last_frame = Clock::now();  // any output is progress; a stuck page sends nothing
      run->parent_error = ParseFrames(&buf, opt, &text_bytes, run);
    }
  }
  if (!run->parent_error.ok()) ::kill(pid, SIGKILL);
  while (::waitpid(pid, &run->wait_status, 0) < 0 && errno == EINTR) {
  }
}

// Maps how a helper run ended to what the caller sees.
Status Outcome(const HelperRun& run, const PdfLimits& limits) {
  if (!run.parent_error.ok()) return run.parent_error;
  if (run.finished) return Status::Ok();
  switch (static_cast<PdfErrorTag>(run.error_tag)) {
    case PdfErrorTag::kDamaged:
      return Corrupt(run.error_message);
    case PdfErrorTag::kNeedsPassword:
      return Cancelled("needs a password");
    case PdfErrorTag::kWrongPassword:
      return InvalidArgument("wrong password");
    case PdfErrorTag::kTooLarge:
    case PdfErrorTag::kOutOfMemory:
      return ResourceExhausted(run.error_message);
  }
  const int st = run.wait_status;
  const bool out_of_memory = run.stderr_tail.find("Out of memory") != std::string::npos ||
                             run.stderr_tail.find("bad_alloc") != std::string::npos;
  if (out_of_memory) {
    return ResourceExhausted("too large: the PDF needs more than " +
                             std::to_string(limits.helper_memory_bytes >> 20) + " MB of memory");
  }
  if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGXCPU || WTERMSIG(st) == SIGKILL)) {
    return Timeout("timed out (the PDF reader used up its CPU time)");
  }
  if (WIFSIGNALED(st)) {
    return Corrupt(std::string("damaged or not a PDF (the PDF reader crashed: ") +
                   strsignal(WTERMSIG(st)) + ")");
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
    return NotFound("the PDF reader could not be started");
  return Corrupt("damaged or not a PDF (the PDF reader stopped early, exit status " +
                 std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1) + ")");
}

// Runs the helper once with `password` (may be empty).
Result<PdfContent> RunHelper(const std::string& helper, const std::string& path,
                             const std::string& password, const PdfImportOptions& opt) {
  Pipe in, out, err;
  if (!in.ok() || !out.ok() || !err.ok()) return IoError("cannot create pipes for the PDF reader");
  FOLIO_ASSIGN_OR_RETURN(const pid_t pid, SpawnHelper(helper, path, opt.limits, &in, &out, &err));
  out.CloseWrite();
  err.CloseWrite();
  // The password (at most a few KB, well under a pipe's buffer) is written while we still
  // hold the read end ourselves: the write cannot block and cannot raise SIGPIPE.
  if (!password.empty()) {
    const ssize_t w =
        ::write(in.write_fd(), password.data(), std::min<size_t>(password.size(), 4096));
    (void)w;
  }
  in.CloseWrite();
  in.CloseRead();
  HelperRun run;
  Supervise(pid, &out, &err, opt, &run);
  FOLIO_RETURN_IF_ERROR(Outcome(run, opt.limits));
  return std::move(run.content);
}

std::string DirOf(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

}  // namespace

std::string FindPdfHelper() {
  if (const char* env = std::getenv("FOLIO_PDF_EXTRACT"); env && *env) return env;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = '\0';
  const std::string dir = DirOf(self);
  for (const char* rel : {"/", "/../lib/folio/", "/../libexec/folio/", "/../bin/"}) {
    const std::string candidate = dir + rel + "folio-pdf-extract";
    if (IsExecutable(candidate)) return candidate;
  }
  return "";
}

Result<PdfContent> ExtractPdf(const std::string& path, const PdfImportOptions& options) {
  const std::string helper = options.helper_path.empty() ? FindPdfHelper() : options.helper_path;
  if (!IsExecutable(helper)) {
    return NotFound(
        "the PDF reader (folio-pdf-extract) is missing; reinstall Folio or set "
        "FOLIO_PDF_EXTRACT");
  }
  Result<PdfContent> result = RunHelper(helper, path, "", options);
  // Encrypted: ask, and ask again after a wrong password (at most 5 tries).
  for (int attempt = 0; attempt < 5 && !result.ok(); ++attempt) {
    const ErrorCode code = result.status().code();
    const bool wrong = code == ErrorCode::kInvalidArgument;
    if (code != ErrorCode::kCancelled && !wrong) break;
    if (!options.password) return result;
    const std::optional<std::string> pw = options.password(path, wrong);
    if (!pw) return wrong ? result : Result<PdfContent>(Cancelled("needs a password"));
    result = RunHelper(helper, path, *pw, options);
  }
  return result;
}

}  // namespace folio::docstore
