// Test documents for the assistant suites: ImportedDocuments built by hand (one chunk per
// page, offsets into the joined text as the store checks them) and stored in a library.
#pragma once

#include <string>
#include <vector>

#include "docstore/document.h"
#include "docstore/store.h"

namespace folio::testing {

inline docstore::ImportedDocument MakeDocument(const std::string& path, const std::string& title,
                                               const std::vector<std::string>& pages) {
  docstore::ImportedDocument d;
  d.path = path;
  d.title = title;
  d.kind = docstore::DocumentKind::kText;
  std::string hash = "h";
  for (const auto& p : pages) hash += std::to_string(std::hash<std::string>{}(p) % 1000003) + ".";
  d.content_hash = hash + title;
  int64_t offset = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    const int n = static_cast<int>(i) + 1;
    d.pages.push_back({n, pages[i]});
    docstore::Chunk c;
    c.ordinal = static_cast<int>(i);
    c.first_page = c.last_page = n;
    c.char_begin = offset;
    c.char_end = offset + static_cast<int64_t>(pages[i].size());
    c.text = pages[i];
    d.chunks.push_back(c);
    offset = c.char_end + static_cast<int64_t>(std::string(docstore::kPageSeparator).size());
    d.bytes += static_cast<int64_t>(pages[i].size());
  }
  return d;
}

// Seeded filler prose from a fixed vocabulary: `words` words.
inline std::string Filler(unsigned seed, int words) {
  static const char* kWords[] = {"river",  "stone",  "market", "window", "garden", "lamp",
                                 "letter", "harbor", "engine", "bridge", "forest", "paper",
                                 "winter", "copper", "signal", "meadow"};
  std::string s;
  unsigned x = seed * 2654435761u + 1;
  for (int i = 0; i < words; ++i) {
    x = x * 1664525u + 1013904223u;
    s += kWords[(x >> 16) % 16];
    s += (i % 12 == 11) ? ". " : " ";
  }
  return s;
}

}  // namespace folio::testing
