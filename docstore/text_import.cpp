#include "docstore/text_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "docstore/sha256.h"

namespace folio::docstore {
namespace {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Appends a decoded code point, turning "\r\n" and a lone "\r" into "\n". `*prev_cr` carries
// whether the last code point was a CR.
void AppendNormalised(uint32_t cp, bool* prev_cr, std::string* out) {
  if (cp == '\n' && *prev_cr) {
    *prev_cr = false;
    return;  // the "\n" of "\r\n": already emitted by the "\r"
  }
  *prev_cr = (cp == '\r');
  AppendUtf8(cp == '\r' ? '\n' : cp, out);
}

Status BinaryError() {
  return Unsupported("binary file, not text (it contains NUL bytes)");
}

Result<DecodedText> DecodeUtf16(std::string_view body, bool little_endian) {
  DecodedText out;
  out.encoding = little_endian ? "UTF-16LE" : "UTF-16BE";
  out.utf8.reserve(body.size());
  const auto unit_at = [&](size_t i) -> uint32_t {
    const auto a = static_cast<uint8_t>(body[i]), b = static_cast<uint8_t>(body[i + 1]);
    return little_endian ? (uint32_t{b} << 8 | a) : (uint32_t{a} << 8 | b);
  };
  bool prev_cr = false, bad_surrogate = false;
  const size_t units = body.size() / 2;
  for (size_t u = 0; u < units; ++u) {
    uint32_t cp = unit_at(2 * u);
    if (cp == 0) return BinaryError();
    if (cp >= 0xD800 && cp <= 0xDBFF && u + 1 < units) {
      const uint32_t low = unit_at(2 * (u + 1));
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        ++u;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) {  // an unpaired surrogate
      cp = 0xFFFD;
      bad_surrogate = true;
    }
    AppendNormalised(cp, &prev_cr, &out.utf8);
  }
  if (bad_surrogate) out.warnings.push_back("unpaired UTF-16 surrogates replaced by U+FFFD");
  if (body.size() % 2) out.warnings.push_back("odd trailing byte of UTF-16 text dropped");
  return out;
}

// Copies UTF-8 (already validated) with line ends normalised.
std::string NormaliseLineEnds(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\r') {
      out.push_back(s[i]);
    } else {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    }
  }
  return out;
}

std::string DecodeLatin1(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  bool prev_cr = false;
  for (char c : s) AppendNormalised(static_cast<uint8_t>(c), &prev_cr, &out);
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Finds where a page starting at `start` should end: the separator nearest to `target`
// in [lo, hi], trying paragraph breaks, then line breaks, then spaces. npos when none.
size_t FindBreak(std::string_view text, size_t lo, size_t target, size_t hi) {
  // Search only the window: an unbounded rfind on a long line would make paging quadratic.
  const std::string_view window = text.substr(lo, hi - lo);
  const size_t t = target - lo;
  for (std::string_view sep :
       {std::string_view("\n\n"), std::string_view("\n"), std::string_view(" ")}) {
    const size_t back = window.rfind(sep, t);
    if (back != std::string_view::npos) return lo + back;
    const size_t fwd = window.find(sep, t);
    if (fwd != std::string_view::npos) return lo + fwd;
  }
  return std::string_view::npos;
}

std::string FileName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string HumanBytes(int64_t n) {
  char buf[64];
  if (n >= (int64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(n) / (1 << 30));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / (1 << 20));
  }
  return buf;
}

// Reads the whole file if it is a regular file no larger than `cap`; never allocates more
// than cap + 1 bytes, even if the file grows while we read.
Result<std::string> ReadCapped(const std::string& path, int64_t cap) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return IoError(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("not a regular file");
  }
  if (st.st_size > cap) {
    ::close(fd);
    return ResourceExhausted("too large: " + HumanBytes(st.st_size) +
                             " (the limit for text files is " + HumanBytes(cap) + ")");
  }
  std::string data(static_cast<size_t>(st.st_size) + 1, '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return IoError(std::string("read failed: ") + std::strerror(err));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > static_cast<size_t>(st.st_size)) return IoError("the file grew while it was read");
  data.resize(got);
  return data;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

Result<DecodedText> DecodeText(std::string_view bytes) {
  if (bytes.size() >= 2 && bytes[0] == '\xFF' && bytes[1] == '\xFE') {
    return DecodeUtf16(bytes.substr(2), /*little_endian=*/true);
  }
  if (bytes.size() >= 2 && bytes[0] == '\xFE' && bytes[1] == '\xFF') {
    return DecodeUtf16(bytes.substr(2), /*little_endian=*/false);
  }
  if (bytes.find('\0') != std::string_view::npos) return BinaryError();
  DecodedText out;
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xEF\xBB\xBF") {
    bytes.remove_prefix(3);
    out.encoding = "UTF-8 with BOM";
  } else {
    out.encoding = "UTF-8";
  }
  if (IsValidUtf8(bytes)) {
    out.utf8 = NormaliseLineEnds(bytes);
    return out;
  }
  out.encoding = "Latin-1";
  out.utf8 = DecodeLatin1(bytes);
  out.warnings.push_back("not valid UTF-8; decoded as Latin-1 (some characters may be wrong)");
  return out;
}

std::vector<Page> SplitIntoPages(std::string_view text, size_t target_bytes) {
  std::vector<Page> pages;
  if (target_bytes < 16) target_bytes = 16;
  size_t start = 0;
  const size_t n = text.size();
  while (start < n) {
    while (start < n && IsSpace(text[start])) ++start;
    if (start >= n) break;
    size_t end = n, next = n;
    if (n - start > target_bytes + target_bytes / 3) {
      const size_t target = start + target_bytes;
      end = FindBreak(text, start + target_bytes / 2, target, start + target_bytes * 3 / 2);
      if (end == std::string_view::npos) {
        end = target;  // no whitespace at all: cut, but at a character boundary
        while (end > start + 1 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) --end;
      }
      next = end;
    }
    const std::string_view body = Trim(text.substr(start, end - start));
    if (!body.empty()) pages.push_back({static_cast<int>(pages.size()) + 1, std::string(body)});
    start = next;
  }
  return pages;
}

std::string MarkdownTitle(std::string_view text) {
  // Only the head of the file: a title is near the top or not there at all.
  text = text.substr(0, std::min<size_t>(text.size(), 64 * 1024));
  size_t pos = 0;
  std::string_view prev;
  bool in_front_matter = false, first_line = true;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (first_line && Trim(line) == "---") {  // YAML front matter: skip to its closing ---
      in_front_matter = true;
      first_line = false;
      continue;
    }
    first_line = false;
    if (in_front_matter) {
      if (Trim(line) == "---") in_front_matter = false;
      continue;
    }
    std::string_view t = line;
    size_t indent = 0;
    while (indent < t.size() && indent < 4 && t[indent] == ' ') ++indent;
    t.remove_prefix(indent);
    size_t hashes = 0;
    while (hashes < t.size() && t[hashes] == '#') ++hashes;
    if (indent < 4 && hashes >= 1 && hashes <= 6 &&
        (hashes == t.size() || t[hashes] == ' ' || t[hashes] == '\t')) {
      std::string_view title = Trim(t.substr(hashes));
      while (!title.empty() && title.back() == '#') title.remove_suffix(1);  // closing #s
      title = Trim(title);
      if (!title.empty()) return std::string(title);
    }
    const std::string_view underline = Trim(line);
    if (!underline.empty() && underline.find_first_not_of('=') == std::string_view::npos &&
        !Trim(prev).empty()) {
      return std::string(Trim(prev));
    }
    prev = line;
  }
  return "";
}

Result<ImportedDocument> ImportTextFile(const std::string& path, DocumentKind kind,
                                        const TextImportOptions& options) {
  FOLIO_ASSIGN_OR_RETURN(std::string bytes, ReadCapped(path, options.max_file_bytes));
  FOLIO_ASSIGN_OR_RETURN(DecodedText decoded, DecodeText(bytes));
  ImportedDocument doc;
  doc.kind = kind;
  doc.bytes = static_cast<int64_t>(bytes.size());
  doc.content_hash = Sha256Hex(bytes);
  bytes = std::string();  // release the raw copy before paging the decoded one
  doc.pages = SplitIntoPages(decoded.utf8, options.page_bytes);
  if (doc.pages.empty()) return InvalidArgument("empty: the file has no text to import");
  if (kind == DocumentKind::kMarkdown) doc.title = MarkdownTitle(decoded.utf8);
  if (doc.title.empty()) doc.title = FileName(path);
  doc.warnings = std::move(decoded.warnings);
  return doc;
}

}  // namespace folio::docstore
