// Chunk embeddings from the loaded model itself (issue 7, semantic search): a text's vector
// is the mean of its tokens' L2-normalised hidden states at one layer, L2-normalised again.
// No separate embedding model: the same checkpoint that answers also ranks passages.
//
//   Embedder e = Embedder::Create(*model->backend, *model->tokenizer, model->model_key).value();
//   std::vector<float> v = e->Embed("passage text").value();   // [hidden], |v| = 1
//   library.PutEmbeddings(e->model_key(), {{chunk_id, v}});
//
// The layer is read through Backend::SetHiddenObserver, which is set and cleared around each
// Embed call: one Embedder per backend and thread, and nothing else may run on that backend
// (no other session's Forward) while Embed runs.
//
// EmbeddingJob fills the library's chunk_embeddings for every chunk that lacks a vector for
// the embedder's model_key, in batches, on the caller's thread (run it on a worker).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "docstore/store.h"
#include "engine/backend.h"
#include "engine/status.h"
#include "engine/tokenizer.h"

namespace folio::assistant {

// EmbedderOptions::layer value meaning "DefaultEmbeddingLayer(num_layers)".
inline constexpr int kAutoLayer = INT_MIN;

// The layer used when none is asked for (see the measurement in embeddings.cpp): an
// observer index in [-1, L] (-1 = the token embeddings, 0..L-1 = after that decoder layer,
// L = after the final norm).
int DefaultEmbeddingLayer(int64_t num_layers);

struct EmbedderOptions {
  int layer = kAutoLayer;       // observer index in [-1, L]; kAutoLayer = the default
  int64_t prefill_chunk = 256;  // tokens per Forward call; does not change the vector
  int64_t max_tokens = 512;     // longer texts are embedded from their first max_tokens
};

class Embedder {
 public:
  // `backend` and `tokenizer` must outlive the embedder. `base_model_key` identifies the
  // checkpoint (LoadedModel::model_key); model_key() adds the layer and method version.
  static Result<std::unique_ptr<Embedder>> Create(Backend& backend, const Tokenizer& tokenizer,
                                                  const std::string& base_model_key,
                                                  EmbedderOptions options = {});

  // [hidden] unit vector. InvalidArgument for text with no token.
  Result<std::vector<float>> Embed(std::string_view text);
  // One pass, every observer layer in [first, last] (each within [-1, L]): [last-first+1]
  // unit vectors, the same as Embed would give with that layer (for embed-eval).
  Result<std::vector<std::vector<float>>> EmbedLayers(std::string_view text, int first, int last);

  // "<base>|emb:v1:layer=N": the key under which the library stores these vectors.
  const std::string& model_key() const { return model_key_; }
  int layer() const { return layer_; }
  int64_t dim() const { return dim_; }

 private:
  Embedder(Backend& backend, const Tokenizer& tokenizer)
      : backend_(backend), tokenizer_(tokenizer) {}
  Backend& backend_;
  const Tokenizer& tokenizer_;
  EmbedderOptions options_;
  std::string model_key_;
  int layer_ = 0;
  int64_t dim_ = 0;
};

// In-place L2 normalisation; a zero vector stays zero.
void L2Normalize(std::vector<float>* v);

struct EmbeddingJobOptions {
  int batch = 16;  // chunks per PutEmbeddings transaction
};

struct EmbeddingJobResult {
  int64_t total = 0;     // chunks of ready documents
  int64_t existing = 0;  // already had a vector for this model_key (skipped)
  int64_t computed = 0;  // embedded and stored by this run
  bool cancelled = false;
};

// Progress: `done` of `total` chunks have a vector (existing ones count as done).
using EmbeddingProgress = std::function<void(int64_t done, int64_t total)>;

// Embeds every chunk of the library at `library_path` (opened on its own connection) that
// has no vector for embedder.model_key(), storing each batch as it completes, so a
// cancelled or crashed run resumes where it stopped. `cancel` is checked between chunks;
// on cancel the finished part of the current batch is stored and the result says so.
Result<EmbeddingJobResult> RunEmbeddingJob(const std::string& library_path, Embedder& embedder,
                                           const std::atomic<bool>* cancel = nullptr,
                                           const EmbeddingProgress& progress = {},
                                           EmbeddingJobOptions options = {});

}  // namespace folio::assistant
