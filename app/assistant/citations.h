// Page references in an answer -> document, page and passage. A reference names a page the
// model saw in its context, or it is dropped: nothing is invented.
//
// Forms recognised (case-insensitive): "[doc 2, page 14]", "doc 2, p. 14", "page 14",
// "p. 14", "pp. 3-4", "pages 3-4", "pages 3 and 4", "pages 3, 4". A reference without a
// document number goes to the document named last before it in the answer ("doc 2 ...
// page 5"), else to the only context document holding that page, else to the one whose
// page text shares most words with the sentence around the reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/assistant/prompt.h"

namespace folio::assistant {

// One reference as written in the answer (before resolution).
struct PageReference {
  int doc_index = 0;  // 0 when the answer did not say which document
  int page = 0;
  size_t begin = 0;  // byte range of the reference in the answer
  size_t end = 0;
};

// Every page reference in `answer`, in order; ranges give one per page (at most 50).
std::vector<PageReference> FindPageReferences(const std::string& answer);

struct Citation {
  int64_t doc_id = 0;
  int doc_index = 0;
  std::string title;
  int page = 0;
  int64_t chunk_id = 0;  // the best-matching passage on that page; 0 when none
  std::string quote;     // a sentence from that passage or page (<= ~300 bytes)
  size_t answer_begin = 0, answer_end = 0;
};

// Resolves references against what the model saw (`blocks`, from the prompt) and the
// documents' chunks (for the passage). Duplicates (same doc and page) are kept once.
struct ChunkOnPage {
  int64_t doc_id = 0;
  int64_t chunk_id = 0;
  int first_page = 1, last_page = 1;
  std::string text;
};
std::vector<Citation> ResolveCitations(const std::string& answer,
                                       const std::vector<SourceDocument>& docs,
                                       const std::vector<ContextBlock>& blocks,
                                       const std::vector<ChunkOnPage>& chunks);

// Lower-case words of >= 3 letters/digits with regular English inflections folded
// (clocks -> clock, measuring/measured -> measur), the unit every overlap score counts.
std::vector<std::string> ContentWords(const std::string& text);

// Share of the answer's content words that occur in `context` (0 when it has none).
double WordOverlap(const std::string& answer, const std::string& context);

// The sentence of `text` sharing most content words with `probe`, trimmed to `max_bytes`
// at a UTF-8 boundary.
std::string BestSentence(const std::string& text, const std::string& probe, size_t max_bytes);

}  // namespace folio::assistant
