// Prompt building for document questions (DESIGN.md "Data flow", step 3).
//
// The prompt is split in two so that the model state after the first part can be cached:
//   prefix = chat template up to the question: system instruction + the documents, with
//            page markers "[doc N, page P]" the model can cite. The same documents (and,
//            in retrieval mode, the same passages) always give the same prefix ids.
//   suffix = the question and the template's generation prompt.
// Whole-document mode when prefix + suffix + answer room fit the context budget;
// retrieval mode otherwise: the best passages that fill the budget, in document order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "docstore/document.h"
#include "engine/chat_template.h"
#include "engine/status.h"
#include "engine/tokenizer.h"

namespace folio::assistant {

// Bumped whenever the prompt text or layout changes: part of every state-cache key.
inline constexpr int kPromptFormatVersion = 1;
// What the model is told to answer, exactly, when the documents do not hold the answer.
inline constexpr const char* kNotFoundSentinel = "NOT_IN_DOCUMENTS";

enum class AnswerMode { kWhole, kRetrieval, kExtractive };
const char* AnswerModeName(AnswerMode m);  // "whole", "retrieval", "extractive"

// One selected document with its pages, numbered "doc N" (1-based, in doc-id order).
struct SourceDocument {
  int64_t doc_id = 0;
  int index = 1;
  std::string title;
  std::string content_hash;
  std::vector<docstore::Page> pages;
};

// A piece of text placed in the context: a whole page (chunk_id 0) or a passage.
struct ContextBlock {
  int doc_index = 1;
  int64_t doc_id = 0;
  int page = 1;          // the page the marker names (a passage's first page)
  int last_page = 1;     // a passage may run onto the next pages
  int64_t chunk_id = 0;  // 0 for a whole page
  int ordinal = 0;       // chunk ordinal, for document order
  std::string text;
};

// A candidate passage for retrieval mode, best first as search returned it.
struct CandidatePassage {
  int64_t doc_id = 0;
  int64_t chunk_id = 0;
  int ordinal = 0;
  int first_page = 1;
  int last_page = 1;
  std::string text;
};

struct PromptBudget {
  int64_t context_tokens = 4096;  // the model maximum or a user setting
  int64_t answer_tokens = 256;    // room kept for the answer
};

struct BuiltPrompt {
  AnswerMode mode = AnswerMode::kWhole;
  std::vector<ContextBlock> blocks;  // what the model sees, in document order
  std::string system_text;           // the system turn's content (instruction + context)
  std::string prefix_text;           // rendered, for display and tests
  std::vector<int64_t> prefix_ids;   // identical for every question on the same context
  std::vector<int64_t> suffix_ids;   // question + generation prompt
  std::string cache_key;             // format version, mode, content hashes, passages
};

// The system instruction for a mode (whole: "the documents"; retrieval: "excerpts").
std::string SystemInstruction(AnswerMode mode);

// The documents part of the system turn: per block a marker line "[doc N, page P]" then
// its text; whole documents open with "=== doc N: TITLE ===".
std::string RenderContext(const std::vector<SourceDocument>& docs,
                          const std::vector<ContextBlock>& blocks, AnswerMode mode);

// Text of a document or question with every special-token string of `tok` broken up
// (a word joiner after its first byte), so document text can never forge a chat turn.
std::string NeutralizeSpecialTokens(const Tokenizer& tok, const std::string& text);

class PromptBuilder {
 public:
  PromptBuilder(const Tokenizer& tok, const ChatTemplate& chat) : tok_(tok), chat_(chat) {}

  // Whole mode over all pages when it fits `budget`, else retrieval over `candidates`
  // (best first): as many as fit, then put in document order. `docs` in doc-id order.
  Result<BuiltPrompt> Build(const std::vector<SourceDocument>& docs,
                            const std::vector<CandidatePassage>& candidates,
                            const std::string& question, const PromptBudget& budget) const;

  // The prompt for exactly these blocks (used by Build and to rebuild a conversation).
  Result<BuiltPrompt> BuildFor(const std::vector<SourceDocument>& docs,
                               const std::vector<ContextBlock>& blocks, AnswerMode mode,
                               const std::string& question) const;

  // Every page of every document as blocks.
  static std::vector<ContextBlock> WholeBlocks(const std::vector<SourceDocument>& docs);

 private:
  const Tokenizer& tok_;
  const ChatTemplate& chat_;
};

}  // namespace folio::assistant
