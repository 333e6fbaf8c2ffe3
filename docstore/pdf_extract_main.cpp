// folio-pdf-extract: extracts a PDF's text with Poppler in a process of its own, so that a
// crash, hang or memory bomb in the parser takes down only this helper. See pdf_import.h
// for the protocol. Usage (spawned by ExtractPdf, not meant for people):
//   folio-pdf-extract [--max-pages N] [--max-bytes N] [--memory-bytes N] [--cpu-seconds N]
//                     [--parent PID] FILE   (password, if any, on stdin)
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <poppler-document.h>
#include <poppler-page.h>

#include "docstore/pdf_import.h"

namespace {

using folio::docstore::PdfErrorTag;

struct HelperArgs {
  std::string path;
  long long max_pages = 20000;
  long long max_bytes = 256LL << 20;
  long long memory_bytes = 2LL << 30;
  long long cpu_seconds = 600;
  long long parent = 0;
};

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void WriteAll(const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::_Exit(5);  // the parent is gone: nothing left to do
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void WriteFrame(char tag, const std::string& payload) {
  std::string header(1, tag);
  PutU32(&header, static_cast<uint32_t>(payload.size()));
  WriteAll(header.data(), header.size());
  WriteAll(payload.data(), payload.size());
}

[[noreturn]] void Fail(PdfErrorTag tag, const std::string& message) {
  WriteFrame('E', std::string(1, static_cast<char>(tag)) + message);
  std::_Exit(3);
}

bool ParseArgs(int argc, char** argv, HelperArgs* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    long long* target = k == "--max-pages"      ? &a->max_pages
                        : k == "--max-bytes"    ? &a->max_bytes
                        : k == "--memory-bytes" ? &a->memory_bytes
                        : k == "--cpu-seconds"  ? &a->cpu_seconds
                        : k == "--parent"       ? &a->parent
                                                : nullptr;
    if (target) {
      if (i + 1 >= argc) return false;
      *target = std::atoll(argv[++i]);
    } else if (a->path.empty() && !k.empty()) {
      a->path = k;
    } else {
      return false;
    }
  }
  return !a->path.empty();
}

// Dies with the parent (a killed CLI must not leave a parser running), and caps memory
// and CPU so a bomb ends here.
void ApplyLimits(const HelperArgs& a) {
  if (a.parent > 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != static_cast<pid_t>(a.parent)) std::_Exit(6);
  }
#if !defined(__SANITIZE_ADDRESS__)
  if (a.memory_bytes > 0) {
    const rlimit as{static_cast<rlim_t>(a.memory_bytes), static_cast<rlim_t>(a.memory_bytes)};
    ::setrlimit(RLIMIT_AS, &as);
  }
#endif
  if (a.cpu_seconds > 0) {
    const rlimit cpu{static_cast<rlim_t>(a.cpu_seconds), static_cast<rlim_t>(a.cpu_seconds + 2)};
    ::setrlimit(RLIMIT_CPU, &cpu);
  }
}

std::string ReadPassword() {
  std::string pw;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pw.size() < 4096) pw.append(buf, static_cast<size_t>(n));
  }
  return pw;
}

std::string ToUtf8(const poppler::ustring& s) {
  const poppler::byte_array bytes = s.to_utf8();
  std::string out(bytes.begin(), bytes.end());
  // The page separator is "\n\f\n" and text must be NUL-free: keep both out of page text.
  for (char& c : out) {
    if (c == '\f' || c == '\0') c = '\n';
  }
  return out;
}

void QuietPoppler(const std::string&, void*) {}

void Extract(const HelperArgs& a, const std::string& password) {
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_file(a.path, password, password));
  if (!doc) Fail(PdfErrorTag::kDamaged, "damaged or not a PDF");
  if (doc->is_locked()) {
    if (password.empty()) Fail(PdfErrorTag::kNeedsPassword, "needs a password");
    Fail(PdfErrorTag::kWrongPassword, "wrong password");
  }
  const int pages = doc->pages();
  if (pages < 0) Fail(PdfErrorTag::kDamaged, "damaged or not a PDF (no page tree)");
  if (pages > a.max_pages) {
    Fail(PdfErrorTag::kTooLarge, "too large: " + std::to_string(pages) + " pages (the limit is " +
                                     std::to_string(a.max_pages) + ")");
  }
  std::string info;
  PutU32(&info, static_cast<uint32_t>(pages));
  for (const poppler::ustring& s : {doc->get_title(), doc->get_author()}) {
    const std::string u = ToUtf8(s);
    PutU32(&info, static_cast<uint32_t>(u.size()));
    info += u;
  }
  WriteFrame('I', info);
  long long total = 0;
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    std::string text;
    if (page) {
      text = ToUtf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
    }
    total += static_cast<long long>(text.size());
    if (total > a.max_bytes) {
      Fail(PdfErrorTag::kTooLarge,
           "too large: more than " + std::to_string(a.max_bytes >> 20) + " MB of text");
    }
    WriteFrame('P', text);
  }
  WriteFrame('Z', "");
}

}  // namespace

int main(int argc, char** argv) {
  HelperArgs args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: folio-pdf-extract [--max-pages N] [--max-bytes N] "
                 "[--memory-bytes N] [--cpu-seconds N] [--parent PID] FILE\n");
    return 2;
  }
  ApplyLimits(args);
  poppler::set_debug_error_function(QuietPoppler, nullptr);
  const std::string password = ReadPassword();
  try {
    Extract(args, password);
  } catch (const std::bad_alloc&) {
    Fail(PdfErrorTag::kOutOfMemory, "too large: the PDF needs more memory than allowed");
  } catch (const std::exception& e) {
    Fail(PdfErrorTag::kDamaged, std::string("damaged or not a PDF (") + e.what() + ")");
  }
  return 0;
}
