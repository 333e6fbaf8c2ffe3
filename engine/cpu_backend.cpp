// The Jamba forward pass on the CPU (JAMBA.md):
//   x = embed(ids)
//   per layer: h = x + Mixer(RMSNorm_input(x)); x = h + MLP(RMSNorm_pre_ff(h))
//   logits = lm_head(RMSNorm_final(x))
#include "engine/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "engine/thread_pool.h"

namespace folio {
namespace {

// One sequence's hybrid cache on the CPU.
struct CpuLayerCache {
  std::vector<float> k;     // [position, n_kv_heads * head_dim]  attention layers
  std::vector<float> v;     // [position, n_kv_heads * head_dim]
  std::vector<float> conv;  // [d_inner, d_conv - 1]  Mamba layers, oldest input first
  std::vector<float> ssm;   // [d_inner, d_state]
};

class CpuCache : public CacheState {
 public:
  CpuCache(const void* made_by, int64_t max_context) : owner(made_by), max_ctx(max_context) {}
  int64_t position() const override { return pos; }
  int64_t max_context() const override { return max_ctx; }
  uint64_t bytes() const override {
    uint64_t n = 0;
    for (const auto& l : layers) n += (l.k.size() + l.v.size() + l.conv.size() + l.ssm.size()) * 4;
    return n;
  }

  const void* owner;  // the backend that made it
  int64_t max_ctx;
  int64_t pos = 0;
  std::vector<CpuLayerCache> layers;
};

std::mutex g_forward_mu;  // the cpu ops share one pool: one Forward at a time

// Exclusive host time per profile part (bench --profile): Switch charges the time since the
// previous switch to the part that was running, so nested parts (a projection inside the
// Mamba mixer) are never counted twice. A null clock costs nothing.
class PartClock {
 public:
  using Clock = std::chrono::steady_clock;
  PartClock(ForwardProfile* p, size_t layers) : p_(p), last_(Clock::now()) {
    if (p_->layer_ms.size() < layers) p_->layer_ms.resize(layers);
  }
  ProfilePart current() const { return cur_; }
  void SetLayer(int64_t layer) {
    Switch(cur_);
    layer_ = layer;
  }
  void Switch(ProfilePart part) {
    const auto now = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    p_->at(cur_) += ms;
    if (layer_ >= 0) p_->layer_ms[static_cast<size_t>(layer_)][static_cast<size_t>(cur_)] += ms;
    cur_ = part;
    last_ = now;
  }

 private:
  ForwardProfile* p_;
  Clock::time_point last_;
  ProfilePart cur_ = ProfilePart::kOther;
  int64_t layer_ = -1;
};

// Runs a block as `part`, then returns to whatever ran before.
class PartScope {
 public:
  PartScope(PartClock* clock, ProfilePart part)
      : clock_(clock), prev_(clock ? clock->current() : ProfilePart::kOther) {
    if (clock_) clock_->Switch(part);
  }
  ~PartScope() {
    if (clock_) clock_->Switch(prev_);
  }
  PartScope(const PartScope&) = delete;
  PartScope& operator=(const PartScope&) = delete;

 private:
  PartClock* clock_;
  ProfilePart prev_;
};

// Activations of one Forward call, sized by T.
struct Graph {
  const ModelConfig& c;
  const OpTable& ops;
  int64_t T;
  PartClock* clock = nullptr;  // profiling, or nullptr

  // out[T, H] = RMSNorm(x) * w.
  void Norm(const float* x, const TensorView& w, float* out) const {
    PartScope part(clock, ProfilePart::kNorms);
    ops.RmsNorm(x, w, c.rms_norm_eps, T, c.hidden_size, out);
  }

  // A projection: a dense GEMM, except inside the MoE, whose experts count as MoE.
  void MatMul(const float* x, int64_t rows, int64_t K, const TensorView& W, const TensorView* bias,
              float* y) const {
    const bool in_moe = clock && clock->current() == ProfilePart::kMoE;
    PartScope s(clock, in_moe ? ProfilePart::kMoE : ProfilePart::kDenseGemm);
    ops.MatMul(x, rows, K, W, bias, y);
  }

  void Add(float* x, const float* y, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  }

  // out[T, H] = Mamba(u[T, H]); updates the layer's conv and SSM state.
  void Mamba(const MambaWeights& w, CpuLayerCache& cache, const float* u, float* out) const {
    PartScope part(clock, ProfilePart::kMamba);
    const int64_t H = c.hidden_size, Dn = c.d_inner(), N = c.mamba_d_state, R = c.mamba_dt_rank;
    const double eps = c.rms_norm_eps;
    std::vector<float> xz(static_cast<size_t>(T * 2 * Dn));
    MatMul(u, T, H, w.in_proj, w.in_proj_bias.data ? &w.in_proj_bias : nullptr, xz.data());
    std::vector<float> xs(static_cast<size_t>(T * Dn)), z(xs.size()), xc(xs.size());
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(xz.data() + t * 2 * Dn, Dn, xs.data() + t * Dn);
      std::copy_n(xz.data() + t * 2 * Dn + Dn, Dn, z.data() + t * Dn);
    }
    ops.CausalConv1d({T, Dn, c.mamba_d_conv, xs.data(), w.conv_w.data(),
                      w.conv_b.empty() ? nullptr : w.conv_b.data(), cache.conv.data(), xc.data()});
    for (float& v : xc) v = Silu(v);
    // p[T, R + 2N] = x_proj(xc); dt, B, C = split(p), each RMS-normalised.
    const int64_t P = R + 2 * N;
    std::vector<float> p(static_cast<size_t>(T * P));
    MatMul(xc.data(), T, Dn, w.x_proj, nullptr, p.data());
    std::vector<float> dt_in(static_cast<size_t>(T * R)), B(static_cast<size_t>(T * N)), C(B.size());
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(p.data() + t * P, R, dt_in.data() + t * R);
      std::copy_n(p.data() + t * P + R, N, B.data() + t * N);
      std::copy_n(p.data() + t * P + R + N, N, C.data() + t * N);
    }
    ops.RmsNorm(dt_in.data(), w.dt_norm, eps, T, R, dt_in.data());
    ops.RmsNorm(B.data(), w.b_norm, eps, T, N, B.data());
    ops.RmsNorm(C.data(), w.c_norm, eps, T, N, C.data());
    std::vector<float> dt(static_cast<size_t>(T * Dn));
    MatMul(dt_in.data(), T, R, w.dt_proj, &w.dt_proj_bias, dt.data());
    for (float& v : dt) v = Softplus(v);
    std::vector<float>& y = xs;  // reuse: xs is no longer needed
    ops.SelectiveScan({T, Dn, N, xc.data(), dt.data(), B.data(), C.data(), z.data(), w.A.data(),
                       w.D.data(), cache.ssm.data(), y.data()});
    MatMul(y.data(), T, Dn, w.out_proj, w.out_proj_bias.data ? &w.out_proj_bias : nullptr, out);
  }

  // out[T, H] = Attention(u[T, H]) over the cache's past positions plus these T.
  void Attention(const AttentionWeights& w, CpuLayerCache& cache, int64_t past, const float* u,
                 float* out) const {
    PartScope part(clock, ProfilePart::kAttention);
    const int64_t H = c.hidden_size, hd = c.head_dim();
    const int64_t qd = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
    std::vector<float> q(static_cast<size_t>(T * qd)), o(q.size());
    cache.k.resize(static_cast<size_t>((past + T) * kvd));
    cache.v.resize(cache.k.size());
    MatMul(u, T, H, w.q, nullptr, q.data());
    MatMul(u, T, H, w.k, nullptr, cache.k.data() + past * kvd);
    MatMul(u, T, H, w.v, nullptr, cache.v.data() + past * kvd);
    ops.Attention({T, past, c.num_attention_heads, c.num_key_value_heads, hd, q.data(),
                   cache.k.data(), cache.v.data(), o.data()});
    MatMul(o.data(), T, qd, w.o, nullptr, out);
  }

  // out[rows, H] = down(silu(gate(u)) * up(u)).
  void Mlp(const MlpWeights& w, const float* u, int64_t rows, float* out) const {
    const bool in_moe = clock && clock->current() == ProfilePart::kMoE;
    PartScope part(clock, in_moe ? ProfilePart::kMoE : ProfilePart::kDenseGemm);
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    std::vector<float> g(static_cast<size_t>(rows * I)), up(g.size());
    MatMul(u, rows, H, w.gate, nullptr, g.data());
    MatMul(u, rows, H, w.up, nullptr, up.data());
    ops.SwiGLU(g.data(), up.data(), rows * I, g.data());
    MatMul(g.data(), rows, I, w.down, nullptr, out);
  }

  // out[T, H] = sum over each token's top-k experts of p_e * expert_e(u), p = softmax of the
  // router logits over all experts (float32), not renormalised over the top k.
  void MoE(const MoEWeights& w, const float* u, float* out) const {
    PartScope part(clock, ProfilePart::kMoE);
    const int64_t H = c.hidden_size, E = c.num_experts;
    const int64_t k = std::min(c.num_experts_per_tok, E);
    std::vector<float> probs(static_cast<size_t>(T * E));
    MatMul(u, T, H, w.router, nullptr, probs.data());
    ops.Softmax(probs.data(), T, E);
    // Route: per expert, the tokens that chose it and their weights.
    std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(E));
    std::vector<int64_t> order(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
      const float* pt = probs.data() + t * E;
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        return pt[a] > pt[b] || (pt[a] == pt[b] && a < b);
      });
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = order[static_cast<size_t>(j)];
        routed[static_cast<size_t>(e)].push_back({t, pt[e]});
      }
    }
    std::fill_n(out, T * H, 0.0f);
    std::vector<float> xe, ye;
    for (int64_t e = 0; e < E; ++e) {
      const auto& toks = routed[static_cast<size_t>(e)];
      if (toks.empty()) continue;
      const int64_t n = static_cast<int64_t>(toks.size());
      xe.resize(static_cast<size_t>(n * H));
      ye.resize(xe.size());
      for (int64_t i = 0; i < n; ++i) std::copy_n(u + toks[size_t(i)].first * H, H, xe.data() + i * H);
      Mlp(w.experts[static_cast<size_t>(e)], xe.data(), n, ye.data());
      for (int64_t i = 0; i < n; ++i) {
        float* o = out + toks[size_t(i)].first * H;
        const float* y = ye.data() + i * H;
        const float p = toks[size_t(i)].second;
        for (int64_t j = 0; j < H; ++j) o[j] += p * y[j];
      }
    }
  }
};

// Quantises every expert's gate/up/down to int8 (engine/quant.h) into *store and points
// `w` at the results; the router and all other weights stay as stored. Experts are
// independent, so they are spread over `threads` workers (a 52B model has 768 of them).
Status QuantizeExperts(JambaWeights& w, int threads, std::vector<Int8Matrix>* store) {
  std::vector<TensorView*> targets;
  for (LayerWeights& layer : w.layers) {
    if (layer.plan.mlp != MlpKind::kMoE) continue;
    for (MlpWeights& e : layer.moe.experts) {
      for (TensorView* t : {&e.gate, &e.up, &e.down}) targets.push_back(t);
    }
  }
  const int64_t n = static_cast<int64_t>(targets.size());
  std::vector<Int8Matrix> out(targets.size());
  std::vector<Status> errors(targets.size());
  ThreadPool pool(static_cast<int>(std::clamp<int64_t>(n, 1, threads)));
  pool.ParallelFor(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      Result<Int8Matrix> q = QuantizeInt8Rows(*targets[static_cast<size_t>(i)]);
      if (q.ok()) {
        out[static_cast<size_t>(i)] = std::move(q).value();
      } else {
        errors[static_cast<size_t>(i)] = q.status();
      }
    }
  });
  for (const Status& st : errors) FOLIO_RETURN_IF_ERROR(st.WithContext("--experts-int8"));
  for (size_t i = 0; i < out.size(); ++i) *targets[i] = out[i].view();
  *store = std::move(out);
  return Status::Ok();
}

// Bytes of one weight as the backend holds it (an int8 matrix adds its row scales).
uint64_t HeldBytes(const TensorView& t) {
  if (!t.data) return 0;
  return t.nbytes + (t.dtype == DType::kI8 && t.rank() > 0 ? 4 * uint64_t(t.dim(0)) : 0);
}

uint64_t FloatBytes(const std::vector<float>& v) {
  return 4 * v.size();
}

uint64_t LayerWeightBytes(const LayerWeights& l) {
  uint64_t n = HeldBytes(l.input_norm) + HeldBytes(l.pre_ff_norm);
  if (l.plan.mixer == MixerKind::kMamba) {
    const MambaWeights& m = l.mamba;
    for (const TensorView* t : {&m.in_proj, &m.in_proj_bias, &m.x_proj, &m.dt_proj, &m.dt_proj_bias,
                                &m.out_proj, &m.out_proj_bias, &m.dt_norm, &m.b_norm, &m.c_norm}) {
      n += HeldBytes(*t);
    }
    n += FloatBytes(m.A) + FloatBytes(m.conv_w) + FloatBytes(m.conv_b) + FloatBytes(m.D);
  } else {
    n += HeldBytes(l.attn.q) + HeldBytes(l.attn.k) + HeldBytes(l.attn.v) + HeldBytes(l.attn.o);
  }
  auto mlp = [](const MlpWeights& w) {
    return HeldBytes(w.gate) + HeldBytes(w.up) + HeldBytes(w.down);
  };
  if (l.plan.mlp == MlpKind::kMoE) {
    n += HeldBytes(l.moe.router);
    for (const MlpWeights& e : l.moe.experts) n += mlp(e);
  } else {
    n += mlp(l.mlp);
  }
  return n;
}

Status CheckIds(const int64_t* ids, int64_t T, int64_t vocab) {
  for (int64_t i = 0; i < T; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return InvalidArgument("token id " + std::to_string(ids[i]) +
                             " is out of range for this model (vocab " + std::to_string(vocab) +
                             ")");
    }
  }
  return Status::Ok();
}

}  // namespace

CpuBackend::CpuBackend(std::shared_ptr<const Checkpoint> checkpoint, JambaWeights weights,
                       const OpTable& ops)
    : checkpoint_(std::move(checkpoint)), weights_(std::move(weights)), ops_(&ops) {}

Result<std::unique_ptr<CpuBackend>> CpuBackend::Create(std::shared_ptr<const Checkpoint> checkpoint,
                                                       const CpuBackendOptions& options) {
  if (!checkpoint) return InvalidArgument("no checkpoint given to the CPU backend");
  for (const std::string& name : checkpoint->Names()) {  // bench --synthetic's GPU-only tensors
    FOLIO_ASSIGN_OR_RETURN(TensorView t, checkpoint->Get(name));
    if (!t.data)
      return InvalidArgument(checkpoint->dir() + ": tensor '" + name +
                             "' has no host data (a synthetic model made for the GPU)");
  }
  FOLIO_ASSIGN_OR_RETURN(JambaWeights weights, JambaWeights::Bind(*checkpoint));
  if (options.threads > 0) cpu::SetNumThreads(options.threads);
  std::vector<Int8Matrix> int8_experts;
  if (options.experts_int8) {
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    FOLIO_RETURN_IF_ERROR(QuantizeExperts(weights, threads, &int8_experts));
  }
  const OpTable& ops = options.reference_ops ? RefOps() : CpuOps();
  std::unique_ptr<CpuBackend> backend(
      new CpuBackend(std::move(checkpoint), std::move(weights), ops));
  backend->int8_experts_ = std::move(int8_experts);
  return backend;
}

BackendMemory CpuBackend::Memory() const {
  const ModelConfig& c = config();
  BackendMemory m;
  m.weight_bytes = HeldBytes(weights_.embed) + HeldBytes(weights_.final_norm);
  if (weights_.lm_head.data != weights_.embed.data) m.weight_bytes += HeldBytes(weights_.lm_head);
  const uint64_t kv_dim = uint64_t(c.num_key_value_heads * c.head_dim());
  for (const LayerWeights& l : weights_.layers) {
    m.weight_bytes += LayerWeightBytes(l);
    if (l.plan.mixer == MixerKind::kAttention) {
      m.cache_bytes_per_token += 2 * kv_dim * 4;  // K and V, float32
    } else {
      m.cache_fixed_bytes +=
          4 * uint64_t(c.d_inner()) * uint64_t(c.mamba_d_conv - 1 + c.mamba_d_state);
    }
  }
  return m;
}

Result<std::unique_ptr<CpuBackend>> CpuBackend::Open(const std::string& dir,
                                                     const CpuBackendOptions& options) {
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir));
  return Create(std::shared_ptr<const Checkpoint>(std::move(ckpt)), options);
}

Result<std::unique_ptr<CacheState>> CpuBackend::NewCache(int64_t max_context) {
  if (max_context <= 0) return InvalidArgument("max_context must be positive");
  const ModelConfig& c = config();
  auto cache = std::make_unique<CpuCache>(this, max_context);
  cache->layers.resize(weights_.layers.size());
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    if (weights_.layers[i].plan.mixer == MixerKind::kMamba) {
      cache->layers[i].conv.assign(static_cast<size_t>(c.d_inner() * (c.mamba_d_conv - 1)), 0.0f);
      cache->layers[i].ssm.assign(static_cast<size_t>(c.d_inner() * c.mamba_d_state), 0.0f);
    }
  }
  return std::unique_ptr<CacheState>(std::move(cache));
}

Status CpuBackend::Forward(const int64_t* ids, int64_t T, CacheState& cache_state,
                           const ForwardOutputs& out) {
  auto* cache = dynamic_cast<CpuCache*>(&cache_state);
  if (!cache || cache->owner != this) return InvalidArgument("cache was made by another backend");
  if (T <= 0) return InvalidArgument("Forward needs at least one token");
  const ModelConfig& c = config();
  FOLIO_RETURN_IF_ERROR(CheckIds(ids, T, c.vocab_size));
  if (cache->pos + T > cache->max_ctx) {
    return ResourceExhausted("context exceeded (" + std::to_string(cache->pos + T) + " / " +
                             std::to_string(cache->max_ctx) + ")");
  }
  if (out.mode != LogitsMode::kNone && !out.logits) return InvalidArgument("no logits buffer");
  FOLIO_RETURN_IF_ERROR(checkpoint_->CheckIntact());
  std::lock_guard<std::mutex> lock(g_forward_mu);

  const int64_t H = c.hidden_size, L = static_cast<int64_t>(weights_.layers.size());
  const auto t_start = std::chrono::steady_clock::now();
  std::optional<PartClock> clock;
  if (profiling_) clock.emplace(&profile_, weights_.layers.size());
  PartClock* pc = clock ? &*clock : nullptr;
  const Graph g{c, *ops_, T, pc};
  std::vector<float> x(static_cast<size_t>(T * H)), xn(x.size()), y(x.size());
  {
    PartScope part(pc, ProfilePart::kEmbedding);
    for (int64_t t = 0; t < T; ++t) weights_.embed.ToF32(ids[t] * H, H, x.data() + t * H);
  }
  if (observer_) observer_(-1, x.data(), T, H);
  for (int64_t i = 0; i < L; ++i) {
    const LayerWeights& w = weights_.layers[static_cast<size_t>(i)];
    CpuLayerCache& lc = cache->layers[static_cast<size_t>(i)];
    if (pc) pc->SetLayer(i);
    g.Norm(x.data(), w.input_norm, xn.data());
    if (w.plan.mixer == MixerKind::kMamba) {
      g.Mamba(w.mamba, lc, xn.data(), y.data());
    } else {
      g.Attention(w.attn, lc, cache->pos, xn.data(), y.data());
    }
    g.Add(x.data(), y.data(), T * H);
    g.Norm(x.data(), w.pre_ff_norm, xn.data());
    if (w.plan.mlp == MlpKind::kMoE) {
      g.MoE(w.moe, xn.data(), y.data());
    } else {
      g.Mlp(w.mlp, xn.data(), T, y.data());
    }
    g.Add(x.data(), y.data(), T * H);
    if (observer_) observer_(i, x.data(), T, H);
  }
  if (pc) pc->SetLayer(-1);
  g.Norm(x.data(), weights_.final_norm, xn.data());
  if (observer_) observer_(L, xn.data(), T, H);
  {
    PartScope part(pc, ProfilePart::kLmHead);
    if (out.mode == LogitsMode::kLast) {
      ops_->MatMul(xn.data() + (T - 1) * H, 1, H, weights_.lm_head, nullptr, out.logits);
    } else if (out.mode == LogitsMode::kAll) {
      ops_->MatMul(xn.data(), T, H, weights_.lm_head, nullptr, out.logits);
    }
  }
  cache->pos += T;
  if (pc) {
    pc->Switch(ProfilePart::kOther);  // charge the tail
    profile_.forwards += 1;
    profile_.tokens += T;
    profile_.total_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
  }
  return Status::Ok();
}

Status CpuBackend::SetProfiling(bool on) {
  std::lock_guard<std::mutex> lock(g_forward_mu);
  profiling_ = on;
  return Status::Ok();
}

ForwardProfile CpuBackend::TakeProfile() {
  std::lock_guard<std::mutex> lock(g_forward_mu);
  ForwardProfile p = std::move(profile_);
  profile_ = ForwardProfile{};
  return p;
}

Result<std::unique_ptr<CacheState>> CpuBackend::Snapshot(const CacheState& cache_state) {
  const auto* cache = dynamic_cast<const CpuCache*>(&cache_state);
  if (!cache || cache->owner != this) return InvalidArgument("cache was made by another backend");
  return std::unique_ptr<CacheState>(std::make_unique<CpuCache>(*cache));
}

Status CpuBackend::Restore(const CacheState& snapshot, CacheState& cache_state) {
  const auto* from = dynamic_cast<const CpuCache*>(&snapshot);
  auto* to = dynamic_cast<CpuCache*>(&cache_state);
  if (!from || !to || from->owner != this || to->owner != this) {
    return InvalidArgument("snapshot or cache was made by another backend");
  }
  if (from->pos > to->max_ctx) {
    return InvalidArgument("snapshot holds " + std::to_string(from->pos) +
                           " tokens, more than this cache's context of " +
                           std::to_string(to->max_ctx));
  }
  const int64_t max_ctx = to->max_ctx;
  *to = *from;
  to->max_ctx = max_ctx;
  return Status::Ok();
}

namespace {

// Cache blob: "FCPU" u32 version, i64 position, i64 layers, then per layer four
// (i64 count, float[count]) arrays: k, v, conv, ssm.
constexpr char kCacheMagic[4] = {'F', 'C', 'P', 'U'};
constexpr uint32_t kCacheVersion = 1;

void PutFloats(std::string* out, const std::vector<float>& v) {
  const int64_t n = static_cast<int64_t>(v.size());
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

bool TakeBytes(std::string_view* in, void* dst, size_t n) {
  if (in->size() < n) return false;
  std::memcpy(dst, in->data(), n);
  in->remove_prefix(n);
  return true;
}

// Reads one array, which must hold exactly `expect` floats.
bool TakeFloats(std::string_view* in, size_t expect, std::vector<float>* v) {
  int64_t n = 0;
  if (!TakeBytes(in, &n, sizeof(n)) || n < 0 || static_cast<uint64_t>(n) != expect) return false;
  v->resize(expect);
  return TakeBytes(in, v->data(), expect * sizeof(float));
}

}  // namespace

Result<std::string> CpuBackend::SerializeCache(const CacheState& cache_state) {
  const auto* cache = dynamic_cast<const CpuCache*>(&cache_state);
  if (!cache || cache->owner != this) return InvalidArgument("cache was made by another backend");
  std::string out(kCacheMagic, sizeof(kCacheMagic));
  out.append(reinterpret_cast<const char*>(&kCacheVersion), sizeof(kCacheVersion));
  const int64_t head[2] = {cache->pos, static_cast<int64_t>(cache->layers.size())};
  out.append(reinterpret_cast<const char*>(head), sizeof(head));
  for (const CpuLayerCache& l : cache->layers) {
    PutFloats(&out, l.k);
    PutFloats(&out, l.v);
    PutFloats(&out, l.conv);
    PutFloats(&out, l.ssm);
  }
  return out;
}

Result<std::unique_ptr<CacheState>> CpuBackend::DeserializeCache(std::string_view bytes,
                                                                 int64_t max_context) {
  char magic[4];
  uint32_t version = 0;
  int64_t head[2] = {0, 0};
  if (!TakeBytes(&bytes, magic, 4) || std::memcmp(magic, kCacheMagic, 4) != 0 ||
      !TakeBytes(&bytes, &version, sizeof(version)) || version != kCacheVersion ||
      !TakeBytes(&bytes, head, sizeof(head))) {
    return Corrupt("saved cpu cache: not a Folio cpu cache of this version");
  }
  if (head[0] < 0 || head[0] > max_context ||
      head[1] != static_cast<int64_t>(weights_.layers.size())) {
    return Corrupt("saved cpu cache: position or layer count does not fit this model");
  }
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CacheState> fresh, NewCache(max_context));
  auto* cache = static_cast<CpuCache*>(fresh.get());
  const ModelConfig& c = config();
  const size_t kv = static_cast<size_t>(head[0] * c.num_key_value_heads * c.head_dim());
  for (size_t i = 0; i < cache->layers.size(); ++i) {
    CpuLayerCache& l = cache->layers[i];
    const bool mamba = weights_.layers[i].plan.mixer == MixerKind::kMamba;
    const size_t conv = l.conv.size(), ssm = l.ssm.size();
    if (!TakeFloats(&bytes, mamba ? 0 : kv, &l.k) || !TakeFloats(&bytes, mamba ? 0 : kv, &l.v) ||
        !TakeFloats(&bytes, conv, &l.conv) || !TakeFloats(&bytes, ssm, &l.ssm)) {
      return Corrupt("saved cpu cache: layer " + std::to_string(i) +
                     " is truncated or has the wrong shape for this model");
    }
  }
  if (!bytes.empty()) return Corrupt("saved cpu cache: trailing bytes");
  cache->pos = head[0];
  return fresh;
}

Status CpuBackend::SetHiddenObserver(HiddenObserver observer) {
  observer_ = std::move(observer);
  return Status::Ok();
}

}  // namespace folio
