// A tiny, random Jamba checkpoint with a real tokenizer, for tests and demos: its output is
// gibberish, but it exercises every path (checkpoint layout, tokenizer, chat template,
// streaming) with no download. `folio-cli make-tiny-model` calls this.
#pragma once

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace folio {

struct TinyModelSummary {
  int64_t vocab_size = 0;  // = the trained sentencepiece vocabulary
  int64_t parameters = 0;
  int64_t shards = 0;
  uint64_t bytes = 0;  // tensor data, bf16
};

// Writes DIR (created if needed; existing files of the same names are replaced):
//   tokenizer.model       sentencepiece BPE with byte fallback, trained on the corpus the
//                         project ships (resources/tiny-model/corpus.txt, built in)
//   tokenizer_config.json special tokens and a Jamba-1.5-style chat_template
//   special_tokens_map.json, generation_config.json, config.json
//   model-0000K-of-0000N.safetensors + model.safetensors.index.json   random bf16 weights
// The tokenizer depends only on the corpus; the weights only on `seed`.
Result<TinyModelSummary> MakeTinyModel(const std::string& dir, uint64_t seed);

// The chat template written into tokenizer_config.json (Folio's own, Jamba-1.5 format).
const char* TinyModelChatTemplate();
// The built-in corpus text.
std::string TinyModelCorpus();

}  // namespace folio
