// Splits a document's pages into overlapping passages for search and retrieval.
//
// Chunks are byte ranges of the joined text (pages joined by kPageSeparator). Each ends at
// the best break in [begin + min_bytes, begin + max_bytes]: a paragraph end, else a sentence
// end, else a line end, else a space, else a UTF-8 character boundary. The next chunk starts
// about `overlap` x the chunk's length before its end, at a sentence or word start when one
// is near. Deterministic: the same pages always give the same chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "docstore/document.h"

namespace folio::docstore {

struct ChunkerOptions {
  size_t min_bytes = 1000;  // a chunk is at least this long unless the document ends
  size_t max_bytes = 1500;  // and never longer than this
  double overlap = 0.15;    // fraction of a chunk repeated at the start of the next
};

// The pages' texts joined by kPageSeparator; `page_starts[i]` is page i's byte offset.
std::string JoinPages(const std::vector<Page>& pages, std::vector<int64_t>* page_starts);

std::vector<Chunk> ChunkPages(const std::vector<Page>& pages, const ChunkerOptions& options = {});

}  // namespace folio::docstore
