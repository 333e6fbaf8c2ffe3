// The text decoder (RELIABILITY.md 5) for the fuzzers: any bytes either decode to valid
// UTF-8 whose pages and chunks keep every invariant the library relies on, or are refused
// with a message. Shared by the libFuzzer target fuzz_text and test_fuzz_corpus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "docstore/chunker.h"
#include "docstore/text_import.h"
#include "fuzz_entry.h"

namespace folio::fuzz {

inline bool RunTextDecode(const uint8_t* data, size_t size) {
  using namespace folio::docstore;
  auto d = DecodeText(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!d.ok()) {
    FOLIO_FUZZ_CHECK(!d.status().message().empty());
    return false;
  }
  FOLIO_FUZZ_CHECK(IsValidUtf8(d->utf8));
  FOLIO_FUZZ_CHECK(d->utf8.find('\r') == std::string::npos);  // line ends normalised
  FOLIO_FUZZ_CHECK(d->utf8.find('\0') == std::string::npos);  // NUL means binary: refused
  static const char* kEncodings[] = {"UTF-8", "UTF-8 with BOM", "UTF-16LE", "UTF-16BE",
                                     "Latin-1"};
  bool known = false;
  for (const char* e : kEncodings) known = known || d->encoding == e;
  FOLIO_FUZZ_CHECK(known);
  FOLIO_FUZZ_CHECK(IsValidUtf8(MarkdownTitle(d->utf8)));
  // Small pages so that short inputs still split: never inside a character, numbered 1..n.
  const auto pages = SplitIntoPages(d->utf8, 64);
  for (size_t i = 0; i < pages.size(); ++i) {
    FOLIO_FUZZ_CHECK(pages[i].number == static_cast<int>(i) + 1);
    FOLIO_FUZZ_CHECK(IsValidUtf8(pages[i].text));
  }
  // Chunks are slices of the joined text, in order, on valid UTF-8 boundaries.
  std::vector<int64_t> starts;
  const std::string joined = JoinPages(pages, &starts);
  int previous = -1;
  ChunkerOptions small;  // short chunks, so fuzz-sized inputs make several with overlaps
  small.min_bytes = 100;
  small.max_bytes = 150;
  for (const Chunk& c : ChunkPages(pages, small)) {
    FOLIO_FUZZ_CHECK(c.ordinal == previous + 1);
    previous = c.ordinal;
    FOLIO_FUZZ_CHECK(c.char_begin >= 0 && c.char_begin <= c.char_end &&
                     c.char_end <= static_cast<int64_t>(joined.size()));
    FOLIO_FUZZ_CHECK(IsValidUtf8(c.text));
    FOLIO_FUZZ_CHECK(c.first_page >= 1 && c.first_page <= c.last_page &&
                     c.last_page <= static_cast<int>(pages.size()));
  }
  return true;
}

}  // namespace folio::fuzz
