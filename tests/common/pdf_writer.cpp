#include "common/pdf_writer.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>

namespace folio::testing {
namespace {

// Escapes a PDF literal string's special characters.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> WrapLines(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string para = text.substr(start, nl - start);
    while (para.size() > width) {
      size_t cut = para.rfind(' ', width);
      if (cut == std::string::npos || cut == 0) cut = width;
      lines.push_back(para.substr(0, cut));
      para = para.substr(cut == width ? cut : cut + 1);
    }
    lines.push_back(para);
    start = nl + 1;
  }
  return lines;
}

std::string PageContent(const std::string& text) {
  std::string s = "BT\n/F1 10 Tf\n12 TL\n50 760 Td\n";
  for (const auto& line : WrapLines(text, 90)) {
    s += '(';
    s += Escape(line);
    s += ") Tj T*\n";
  }
  return s + "ET\n";
}

std::string Stream(const std::string& dict_extra, const std::string& data) {
  return "<< /Length " + std::to_string(data.size()) + dict_extra + " >>\nstream\n" + data +
         "\nendstream";
}

// Assembles numbered objects (1-based, in order) into a file with an xref table.
// `xref_skew` is added to every offset (non-zero makes the table wrong).
std::string Assemble(const std::vector<std::string>& objects, const std::string& trailer_extra,
                     long xref_skew = 0) {
  std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref_at = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010ld 00000 n \n", static_cast<long>(off) + xref_skew);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" +
         trailer_extra + " >>\nstartxref\n" + std::to_string(xref_at) + "\n%%EOF\n";
  return out;
}

// Objects: 1 catalog, 2 pages, 3 font, then per page: page dict, content stream.
std::string BuildDocument(const PdfSpec& spec, long xref_skew) {
  std::vector<std::string> obj(3);
  std::string kids;
  for (size_t i = 0; i < spec.pages.size(); ++i) kids += std::to_string(4 + 2 * i) + " 0 R ";
  obj[0] = "<< /Type /Catalog /Pages 2 0 R >>";
  obj[1] =
      "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(spec.pages.size()) + " >>";
  obj[2] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
  for (size_t i = 0; i < spec.pages.size(); ++i) {
    obj.push_back(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << "
        "/F1 3 0 R >> >> /Contents " +
        std::to_string(5 + 2 * i) + " 0 R >>");
    obj.push_back(Stream("", PageContent(spec.pages[i])));
  }
  std::string trailer;
  if (!spec.title.empty() || !spec.author.empty()) {
    std::string info = "<<";
    if (!spec.title.empty()) info += " /Title (" + Escape(spec.title) + ")";
    if (!spec.author.empty()) info += " /Author (" + Escape(spec.author) + ")";
    obj.push_back(info + " >>");
    trailer = " /Info " + std::to_string(obj.size()) + " 0 R";
  }
  return Assemble(obj, trailer, xref_skew);
}

// One page whose single content stream is `content` (already encoded) with `filter`.
std::string OnePage(const std::string& content_stream_object, const std::string& page_extra = "",
                    const std::string& pages_object = "") {
  std::vector<std::string> obj = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      pages_object.empty() ? "<< /Type /Pages /Kids [4 0 R] /Count 1 >>" : pages_object,
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
      ">> /Contents 5 0 R" +
          page_extra + " >>",
      content_stream_object};
  return Assemble(obj, "");
}

// zlib-compresses what `produce` emits, piece by piece (so a huge input never sits in memory).
std::string Deflate(const std::function<bool(std::string*)>& produce) {
  z_stream z{};
  deflateInit(&z, 1);  // fastest: the inputs are hundreds of MB of repeats
  std::string out, piece;
  char buf[1 << 16];
  bool more = true;
  while (more) {
    piece.clear();
    more = produce(&piece);
    z.next_in = reinterpret_cast<Bytef*>(piece.data());
    z.avail_in = static_cast<uInt>(piece.size());
    const int flush = more ? Z_NO_FLUSH : Z_FINISH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out;
}

// A content stream of `head`, `body` repeated `repeats` times, then `tail`, deflated.
std::string DeflatedRepeat(const std::string& head, const std::string& body, int64_t repeats,
                           const std::string& tail) {
  const int64_t per_piece = std::max<int64_t>(1, (1 << 20) / static_cast<int64_t>(body.size()));
  int64_t left = repeats;
  bool head_done = false;
  return Deflate([&](std::string* piece) {
    if (!head_done) {
      *piece = head;
      head_done = true;
      return true;
    }
    if (left > 0) {
      const int64_t n = std::min(left, per_piece);
      piece->reserve(static_cast<size_t>(n) * body.size());
      for (int64_t i = 0; i < n; ++i) *piece += body;
      left -= n;
      return true;
    }
    *piece = tail;
    return false;
  });
}

}  // namespace

std::string MakePdf(const PdfSpec& spec) {
  return BuildDocument(spec, 0);
}

std::string MakePdfWithBrokenXref(const PdfSpec& spec) {
  return BuildDocument(spec, 7);
}

std::string MakePdfWithCircularPageTree() {
  return OnePage(Stream("", PageContent("Loop page text")), "",
                 "<< /Type /Pages /Kids [2 0 R 4 0 R] /Count 2 >>");
}

std::string MakePdfWithDeepNesting(int depth) {
  const std::string deep =
      std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']');
  return OnePage(Stream("", PageContent("Deep nesting survivor")), " /Deep " + deep);
}

std::string MakePdfFlateBomb(int64_t decoded_bytes) {
  const std::string z = DeflatedRepeat("BT /F1 10 Tf 50 700 Td (", std::string(4096, 'A'),
                                       decoded_bytes / 4096, ") Tj ET\n");
  return OnePage(Stream(" /Filter /FlateDecode", z));
}

std::string MakePdfSlowPage(int64_t repeats) {
  const std::string z =
      DeflatedRepeat("BT /F1 10 Tf\n", "1 0 0 1 50 700 Tm (xy) Tj\n", repeats, "ET\n");
  return OnePage(Stream(" /Filter /FlateDecode", z));
}

std::string MakePdfClaimingPages(int64_t claimed) {
  return OnePage(Stream("", PageContent("Only one page here")), "",
                 "<< /Type /Pages /Kids [4 0 R] /Count " + std::to_string(claimed) + " >>");
}

bool WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

bool EncryptWithQpdf(const std::string& in, const std::string& out, const std::string& user_pw,
                     const std::string& owner_pw) {
  const std::string cmd = "qpdf --encrypt '" + user_pw + "' '" + owner_pw + "' 256 -- '" + in +
                          "' '" + out + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace folio::testing
