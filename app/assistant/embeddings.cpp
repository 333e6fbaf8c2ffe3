#include "app/assistant/embeddings.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/session.h"

namespace folio::assistant {

// Why layer 0 (the residual stream after the first decoder layer): `folio-cli embed-eval
// --model DIR` measures dense-only recall@1/@3 and MRR of every observer layer on
// tests/app/data/semantic_eval.json (26 passages, 26 paraphrased queries; chance: R@1 .038,
// R@3 .115, MRR ~.148). On three tiny random models (make-tiny-model --seed 1/2/3; 8 layers)
// the mean MRR was: layer -1 .267, 0 .268, 1 .246, 2 .196, 3 .170, 4 .200, 5 .197, 6 .146,
// 7 .149, 8 (final norm) .149: early layers beat chance, deep ones sit at it. With random
// weights that early signal can only be shared tokens (a bag of token embeddings), not
// meaning, so this choice says nothing about a trained Jamba: what is fixed and tested here
// is the method. Re-run embed-eval on a real checkpoint and set the layer it picks (trained
// decoders usually carry meaning best in their middle-to-late layers). Vectors are stored
// under a key that names the layer, so changing it re-embeds rather than mixing layers.
int DefaultEmbeddingLayer(int64_t num_layers) {
  return num_layers > 0 ? 0 : -1;
}

void L2Normalize(std::vector<float>* v) {
  double ss = 0;
  for (float x : *v) ss += static_cast<double>(x) * x;
  if (ss <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(ss));
  for (float& x : *v) x *= inv;
}

Result<std::unique_ptr<Embedder>> Embedder::Create(Backend& backend, const Tokenizer& tokenizer,
                                                   const std::string& base_model_key,
                                                   EmbedderOptions options) {
  const ModelConfig& cfg = backend.config();
  const int64_t L = cfg.num_hidden_layers;
  int layer = options.layer == kAutoLayer ? DefaultEmbeddingLayer(L) : options.layer;
  if (layer < -1 || layer > L) {
    return InvalidArgument("embedding layer " + std::to_string(layer) + " is outside [-1, " +
                           std::to_string(L) + "] (-1 = token embeddings, " + std::to_string(L) +
                           " = final norm)");
  }
  if (options.prefill_chunk < 1) return InvalidArgument("prefill_chunk must be at least 1");
  if (options.max_tokens < 1) return InvalidArgument("max_tokens must be at least 1");
  std::unique_ptr<Embedder> e(new Embedder(backend, tokenizer));
  e->options_ = options;
  e->layer_ = layer;
  e->dim_ = cfg.hidden_size;
  e->model_key_ = base_model_key + "|emb:v1:layer=" + std::to_string(layer);
  return e;
}

Result<std::vector<std::vector<float>>> Embedder::EmbedLayers(std::string_view text, int first,
                                                              int last) {
  const int64_t L = backend_.config().num_hidden_layers;
  if (first < -1 || last > L || first > last) {
    return InvalidArgument("embedding layers [" + std::to_string(first) + ", " +
                           std::to_string(last) + "] are outside [-1, " + std::to_string(L) + "]");
  }
  FOLIO_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                         tokenizer_.Encode(text, true, Tokenizer::SpecialText::kPlain));
  const int64_t limit = std::min(options_.max_tokens, backend_.config().max_position_embeddings);
  if (static_cast<int64_t>(ids.size()) > limit) ids.resize(static_cast<size_t>(limit));
  if (ids.empty()) return InvalidArgument("nothing to embed: the text has no token");

  // Per layer in [first, last]: the sum over tokens of each token's unit hidden vector,
  // sums [layers, hidden], and how many rows each layer saw.
  const size_t layers = static_cast<size_t>(last - first + 1);
  std::vector<std::vector<double>> sums(layers, std::vector<double>(static_cast<size_t>(dim_)));
  std::vector<int64_t> rows(layers, 0);
  FOLIO_RETURN_IF_ERROR(backend_.SetHiddenObserver(
      [&](int64_t layer_index, const float* x, int64_t T, int64_t hidden) {
        if (layer_index < first || layer_index > last || hidden != dim_) return;
        std::vector<double>& sum = sums[static_cast<size_t>(layer_index - first)];
        for (int64_t t = 0; t < T; ++t) {
          const float* row = x + t * hidden;
          double ss = 0;
          for (int64_t i = 0; i < hidden; ++i) ss += static_cast<double>(row[i]) * row[i];
          const double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
          for (int64_t i = 0; i < hidden; ++i) sum[static_cast<size_t>(i)] += row[i] * inv;
        }
        rows[static_cast<size_t>(layer_index - first)] += T;
      }));
  // A fresh session per text: the vector depends on the text alone, not on what ran before.
  SessionOptions so;
  so.max_context = limit;
  so.prefill_chunk = options_.prefill_chunk;
  Status run = [&]() -> Status {
    FOLIO_ASSIGN_OR_RETURN(auto session, Session::Create(backend_, so));
    return session->Append(ids);
  }();
  (void)backend_.SetHiddenObserver({});  // always cleared, even after a failed run
  FOLIO_RETURN_IF_ERROR(run);
  std::vector<std::vector<float>> out(layers);
  for (size_t l = 0; l < layers; ++l) {
    if (rows[l] != static_cast<int64_t>(ids.size())) {
      return Internal("embedding: the backend reported " + std::to_string(rows[l]) +
                      " hidden rows for " + std::to_string(ids.size()) + " tokens at layer " +
                      std::to_string(first + static_cast<int>(l)));
    }
    out[l].resize(sums[l].size());
    for (size_t i = 0; i < sums[l].size(); ++i) {
      out[l][i] = static_cast<float>(sums[l][i] / static_cast<double>(rows[l]));
    }
    L2Normalize(&out[l]);
  }
  return out;
}

Result<std::vector<float>> Embedder::Embed(std::string_view text) {
  FOLIO_ASSIGN_OR_RETURN(auto v, EmbedLayers(text, layer_, layer_));
  return std::move(v[0]);
}

Result<EmbeddingJobResult> RunEmbeddingJob(const std::string& library_path, Embedder& embedder,
                                           const std::atomic<bool>* cancel,
                                           const EmbeddingProgress& progress,
                                           EmbeddingJobOptions options) {
  if (options.batch < 1) return InvalidArgument("embedding batch must be at least 1");
  FOLIO_ASSIGN_OR_RETURN(auto library, docstore::Library::Open(library_path));
  FOLIO_ASSIGN_OR_RETURN(auto stored, library->GetEmbeddings(embedder.model_key()));
  std::set<int64_t> have;
  for (const auto& e : stored) have.insert(e.chunk_id);
  stored.clear();

  // Every chunk of every ready document: [(chunk id, text)] still to embed.
  EmbeddingJobResult r;
  std::vector<std::pair<int64_t, std::string>> todo;
  FOLIO_ASSIGN_OR_RETURN(auto docs, library->ListDocuments());
  for (const auto& d : docs) {
    if (d.status != "ready") continue;
    FOLIO_ASSIGN_OR_RETURN(auto chunks, library->GetChunks(d.id));
    for (auto& c : chunks) {
      ++r.total;
      if (have.count(c.id)) {
        ++r.existing;
      } else {
        todo.emplace_back(c.id, std::move(c.chunk.text));
      }
    }
  }
  if (progress) progress(r.existing, r.total);

  std::vector<docstore::ChunkEmbedding> batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    FOLIO_RETURN_IF_ERROR(library->PutEmbeddings(embedder.model_key(), batch));
    r.computed += static_cast<int64_t>(batch.size());
    batch.clear();
    if (progress) progress(r.existing + r.computed, r.total);
    return Status::Ok();
  };
  for (const auto& [id, text] : todo) {
    if (cancel && cancel->load()) {
      r.cancelled = true;
      break;
    }
    auto v = embedder.Embed(text);
    if (!v.ok() && v.status().code() == ErrorCode::kInvalidArgument) {
      v = std::vector<float>(static_cast<size_t>(embedder.dim()), 0.0f);  // no token: a zero vector
    }
    if (!v.ok()) {
      (void)flush();  // keep what is done
      return v.status();
    }
    batch.push_back({id, std::move(*v)});
    if (static_cast<int>(batch.size()) >= options.batch) FOLIO_RETURN_IF_ERROR(flush());
  }
  FOLIO_RETURN_IF_ERROR(flush());
  return r;
}

}  // namespace folio::assistant
