// Hand-built documents for the store and search tests (no importer involved): pages of
// known text joined by kPageSeparator, chunks with exact byte ranges and page spans.
#pragma once

#include <QCryptographicHash>
#include <QFile>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "docstore/document.h"

namespace folio::docstore::testing {

inline std::string Sha256Hex(const std::string& bytes) {
  return QCryptographicHash::hash(QByteArray::fromStdString(bytes), QCryptographicHash::Sha256)
      .toHex()
      .toStdString();
}

// Chunks of about `chunk_bytes`, cut at spaces, no overlap; each knows its pages.
inline std::vector<Chunk> ChunkJoinedText(const std::vector<Page>& pages, size_t chunk_bytes) {
  std::string joined;
  std::vector<size_t> page_begin;
  for (const Page& p : pages) {
    if (!joined.empty() || !page_begin.empty()) joined += kPageSeparator;
    page_begin.push_back(joined.size());
    joined += p.text;
  }
  auto page_of = [&](size_t offset) {
    const auto it = std::upper_bound(page_begin.begin(), page_begin.end(), offset);
    return static_cast<int>(it - page_begin.begin());
  };
  std::vector<Chunk> chunks;
  size_t begin = 0;
  while (begin < joined.size()) {
    size_t end = std::min(joined.size(), begin + chunk_bytes);
    if (end < joined.size()) {
      const size_t space = joined.rfind(' ', end);
      if (space != std::string::npos && space > begin) end = space;
    }
    Chunk c;
    c.ordinal = static_cast<int>(chunks.size());
    c.char_begin = static_cast<int64_t>(begin);
    c.char_end = static_cast<int64_t>(end);
    c.text = joined.substr(begin, end - begin);
    c.first_page = page_of(begin);
    c.last_page = page_of(end > begin ? end - 1 : begin);
    chunks.push_back(std::move(c));
    begin = end;
  }
  return chunks;
}

inline ImportedDocument MakeDocument(const std::string& path, const std::string& title,
                                     const std::vector<std::string>& page_texts,
                                     size_t chunk_bytes = 400) {
  ImportedDocument doc;
  doc.path = path;
  doc.title = title;
  doc.author = "Test Author";
  doc.kind = DocumentKind::kText;
  std::string all;
  for (size_t i = 0; i < page_texts.size(); ++i) {
    doc.pages.push_back({static_cast<int>(i) + 1, page_texts[i]});
    all += page_texts[i];
    all += kPageSeparator;
  }
  doc.content_hash = Sha256Hex(all);
  doc.bytes = static_cast<int64_t>(all.size());
  doc.mtime = 1700000000;
  doc.chunks = ChunkJoinedText(doc.pages, chunk_bytes);
  return doc;
}

// Seeded filler text from a small vocabulary that no test searches for.
inline std::string Filler(std::mt19937& rng, int words) {
  static const char* kWords[] = {"lorem",       "ipsum",      "dolor",   "sit",     "amet",
                                 "consectetur", "adipiscing", "elit",    "sed",     "eiusmod",
                                 "tempor",      "incididunt", "labore",  "dolore",  "magna",
                                 "aliqua",      "veniam",     "nostrud", "ullamco", "laboris"};
  std::uniform_int_distribution<int> pick(0, static_cast<int>(std::size(kWords)) - 1);
  std::string s;
  for (int i = 0; i < words; ++i) {
    if (i) s += (i % 12 == 0) ? ". " : " ";
    s += kWords[pick(rng)];
  }
  return s;
}

inline QByteArray ReadAll(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

}  // namespace folio::docstore::testing
