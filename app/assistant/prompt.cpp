#include "app/assistant/prompt.h"

#include <algorithm>

namespace folio::assistant {
namespace {

// Stands in for the question while the template renders, so the split point can be found.
constexpr const char* kQuestionMark = "\x01\x02QUESTION\x02\x01";
constexpr const char* kWordJoiner = "\xE2\x81\xA0";  // U+2060

uint64_t Fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string Hex(uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = d[v & 15];
  return s;
}

// Where the prefix ends: before the run of whitespace and special tokens that leads into
// the question, so that the suffix starts with a special token (encoding the two parts
// apart then gives the same ids as encoding them together).
size_t SplitPoint(const Tokenizer& tok, const std::string& text, size_t question_pos) {
  size_t q = question_pos;
  while (q > 0 && (text[q - 1] == ' ' || text[q - 1] == '\n' || text[q - 1] == '\t')) --q;
  for (bool moved = true; moved && q > 0;) {
    moved = false;
    for (const AddedToken& t : tok.added_tokens()) {
      const size_t n = t.content.size();
      if (n > 0 && n <= q && text.compare(q - n, n, t.content) == 0) {
        q -= n;
        moved = true;
        break;
      }
    }
  }
  return q;
}

}  // namespace

const char* AnswerModeName(AnswerMode m) {
  switch (m) {
    case AnswerMode::kWhole:
      return "whole";
    case AnswerMode::kRetrieval:
      return "retrieval";
    case AnswerMode::kExtractive:
      return "extractive";
  }
  return "?";
}

std::string SystemInstruction(AnswerMode mode) {
  const std::string what = mode == AnswerMode::kRetrieval
                               ? "excerpts from the person's documents (you see excerpts, not "
                                 "the whole documents; say so in your answer)"
                               : "the person's documents";
  return "You answer questions using only " + what +
         ", given below. Every page begins with a marker like [doc 1, page 3]. Cite the page of "
         "every fact you use in that form, for example [doc 1, page 3]. Do not use anything "
         "you know from elsewhere. If the text below does not contain the answer, reply "
         "exactly " +
         std::string(kNotFoundSentinel) + " and nothing else.";
}

std::string RenderContext(const std::vector<SourceDocument>& docs,
                          const std::vector<ContextBlock>& blocks, AnswerMode mode) {
  std::string out;
  int open_doc = 0;
  for (const ContextBlock& b : blocks) {
    if (b.doc_index != open_doc) {
      open_doc = b.doc_index;
      std::string title;
      for (const SourceDocument& d : docs)
        if (d.index == b.doc_index) title = d.title;
      out += "\n=== doc " + std::to_string(b.doc_index) + ": " + title + " ===\n";
    }
    out += "[doc " + std::to_string(b.doc_index) + ", page " + std::to_string(b.page) + "]";
    if (mode == AnswerMode::kRetrieval) out += " (excerpt)";
    out += "\n";
    out += b.text;
    out += "\n";
  }
  return out;
}

std::string NeutralizeSpecialTokens(const Tokenizer& tok, const std::string& text) {
  std::string s = text;
  for (const AddedToken& t : tok.added_tokens()) {
    if (t.content.size() < 2) continue;
    std::string broken(1, t.content[0]);
    broken.append(kWordJoiner);
    broken.append(t.content, 1, std::string::npos);
    for (size_t at = s.find(t.content); at != std::string::npos;
         at = s.find(t.content, at + broken.size())) {
      s.replace(at, t.content.size(), broken);
    }
  }
  return s;
}

std::vector<ContextBlock> PromptBuilder::WholeBlocks(const std::vector<SourceDocument>& docs) {
  std::vector<ContextBlock> blocks;
  for (const SourceDocument& d : docs) {
    for (const docstore::Page& p : d.pages) {
      blocks.push_back({d.index, d.doc_id, p.number, p.number, 0, 0, p.text});
    }
  }
  return blocks;
}

Result<BuiltPrompt> PromptBuilder::BuildFor(const std::vector<SourceDocument>& docs,
                                            const std::vector<ContextBlock>& blocks,
                                            AnswerMode mode, const std::string& question) const {
  BuiltPrompt out;
  out.mode = mode;
  out.blocks = blocks;
  const std::string system = SystemInstruction(mode) + "\n" +
                             NeutralizeSpecialTokens(tok_, RenderContext(docs, blocks, mode));
  FOLIO_ASSIGN_OR_RETURN(std::string full,
                         chat_.Render({{"system", system}, {"user", kQuestionMark}}));
  out.system_text = system;
  const size_t q = full.find(kQuestionMark);
  if (q == std::string::npos) return Internal("the chat template dropped the question");
  const size_t split = SplitPoint(tok_, full, q);
  out.prefix_text = full.substr(0, split);
  std::string suffix = full.substr(split);
  suffix.replace(q - split, std::string(kQuestionMark).size(),
                 NeutralizeSpecialTokens(tok_, question));
  FOLIO_ASSIGN_OR_RETURN(out.prefix_ids, tok_.Encode(out.prefix_text, false));
  FOLIO_ASSIGN_OR_RETURN(out.suffix_ids, tok_.Encode(suffix, false));

  std::string key = "v";
  key += std::to_string(kPromptFormatVersion);
  key += "|";
  key += AnswerModeName(mode);
  key += "|";
  for (const SourceDocument& d : docs) {
    key += d.content_hash;
    key += ",";
  }
  if (mode == AnswerMode::kRetrieval) {
    key += "|chunks:";
    for (const ContextBlock& b : blocks) key += std::to_string(b.chunk_id) + ",";
  }
  key += "|ids:" + Hex(Fnv1a(out.prefix_ids.data(), out.prefix_ids.size() * sizeof(int64_t)));
  out.cache_key = std::move(key);
  return out;
}

Result<BuiltPrompt> PromptBuilder::Build(const std::vector<SourceDocument>& docs,
                                         const std::vector<CandidatePassage>& candidates,
                                         const std::string& question,
                                         const PromptBudget& budget) const {
  auto fits = [&](const BuiltPrompt& p) {
    return static_cast<int64_t>(p.prefix_ids.size() + p.suffix_ids.size()) + budget.answer_tokens <=
           budget.context_tokens;
  };
  FOLIO_ASSIGN_OR_RETURN(BuiltPrompt whole,
                         BuildFor(docs, WholeBlocks(docs), AnswerMode::kWhole, question));
  if (fits(whole)) return whole;

  // Retrieval: the empty prompt's size, then passages best first while they fit (each
  // passage costs its text plus its marker line, about 12 tokens).
  FOLIO_ASSIGN_OR_RETURN(BuiltPrompt empty, BuildFor(docs, {}, AnswerMode::kRetrieval, question));
  int64_t used = static_cast<int64_t>(empty.prefix_ids.size() + empty.suffix_ids.size()) +
                 budget.answer_tokens;
  std::vector<ContextBlock> chosen;
  for (const CandidatePassage& c : candidates) {
    FOLIO_ASSIGN_OR_RETURN(auto ids, tok_.Encode(c.text, false, Tokenizer::SpecialText::kPlain));
    const int64_t cost = static_cast<int64_t>(ids.size()) + 16;
    if (used + cost > budget.context_tokens) continue;
    used += cost;
    int index = 0;
    for (const SourceDocument& d : docs)
      if (d.doc_id == c.doc_id) index = d.index;
    if (index == 0) continue;  // not a selected document
    chosen.push_back({index, c.doc_id, c.first_page, c.last_page, c.chunk_id, c.ordinal, c.text});
  }
  // `chosen` stays best first; the prompt gets them in document order. The estimate is
  // close, not exact (joins between pieces): drop the least relevant passage until the
  // real prompt fits.
  for (;;) {
    std::vector<ContextBlock> ordered = chosen;
    std::sort(ordered.begin(), ordered.end(), [](const ContextBlock& a, const ContextBlock& b) {
      return a.doc_index != b.doc_index ? a.doc_index < b.doc_index : a.ordinal < b.ordinal;
    });
    FOLIO_ASSIGN_OR_RETURN(BuiltPrompt p,
                           BuildFor(docs, ordered, AnswerMode::kRetrieval, question));
    if (fits(p)) return p;
    if (chosen.empty()) {
      return ResourceExhausted("the context budget of " + std::to_string(budget.context_tokens) +
                               " tokens cannot hold even the instruction and the question");
    }
    chosen.pop_back();
  }
}

}  // namespace folio::assistant
