// folio-cli info --model DIR: what a checkpoint is and what it needs, without loading
// any weight. Opening the checkpoint validates config, index, every shard header and
// every tensor shape, so `info` doubles as a check of a downloaded model.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/checkpoint.h"

namespace folio::cli {
namespace {

// One line on stderr, whatever the message holds (a tensor name may contain newlines).
int FailInfo(const std::string& message) {
  std::string line;
  for (char c : message) line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  std::fprintf(stderr, "folio-cli info: %s\n", line.c_str());
  return kExitBadInput;
}

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}

std::string Count(int64_t n) {
  char buf[48];
  if (n >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2fB (%" PRId64 ")", static_cast<double>(n) / 1e9, n);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.2fM (%" PRId64 ")", static_cast<double>(n) / 1e6, n);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64, n);
  }
  return buf;
}

// "4, 12, 20, 28" (or "none") for the layers where pick(plan[i]) holds.
template <typename Pred>
std::string LayerList(const std::vector<LayerPlan>& plan, Pred pick) {
  std::string s;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (pick(plan[i])) s += (s.empty() ? "" : ", ") + std::to_string(i);
  }
  return s.empty() ? "none" : s;
}

struct Memory {
  int64_t attention_layers = 0, mamba_layers = 0;
  double kv_bytes_per_token_bf16 = 0;  // K and V of every attention layer
  double mamba_state_bytes = 0;        // conv + SSM state of every Mamba layer, float32
};

Memory EstimateMemory(const ModelConfig& c) {
  Memory m;
  for (const LayerPlan& l : c.Plan()) {
    (l.mixer == MixerKind::kAttention ? m.attention_layers : m.mamba_layers)++;
  }
  m.kv_bytes_per_token_bf16 = static_cast<double>(m.attention_layers) * 2 *
                              static_cast<double>(c.num_key_value_heads * c.head_dim()) * 2;
  // Per Mamba layer: conv keeps the last d_conv-1 inputs [d_inner], the scan h
  // [d_inner, d_state]; both float32.
  m.mamba_state_bytes = static_cast<double>(m.mamba_layers) *
                        static_cast<double>(c.d_inner() * (c.mamba_d_conv - 1 + c.mamba_d_state)) *
                        4;
  return m;
}

void PrintShapes(const ModelConfig& c) {
  std::printf("architecture      %s (model_type %s)\n", c.architecture.c_str(),
              c.model_type.c_str());
  std::printf("hidden size       %" PRId64 ", vocab %" PRId64 ", max context %" PRId64 " tokens\n",
              c.hidden_size, c.vocab_size, c.max_position_embeddings);
  std::printf("attention         %" PRId64 " query heads, %" PRId64 " KV heads, head dim %" PRId64
              ", no positional encoding\n",
              c.num_attention_heads, c.num_key_value_heads, c.head_dim());
  std::printf("mamba             d_inner %" PRId64 ", d_state %" PRId64 ", d_conv %" PRId64
              ", dt_rank %" PRId64 "\n",
              c.d_inner(), c.mamba_d_state, c.mamba_d_conv, c.mamba_dt_rank);
  std::printf("mlp               intermediate %" PRId64 "; MoE: %" PRId64 " experts, top %" PRId64
              "\n",
              c.intermediate_size, c.num_experts, c.num_experts_per_tok);
}

void PrintPlan(const ModelConfig& c) {
  const auto plan = c.Plan();
  const auto is_attn = [](const LayerPlan& l) { return l.mixer == MixerKind::kAttention; };
  const auto is_moe = [](const LayerPlan& l) { return l.mlp == MlpKind::kMoE; };
  int64_t attn = 0, moe = 0;
  for (const auto& l : plan) attn += is_attn(l), moe += is_moe(l);
  std::printf("layers            %zu: %" PRId64 " attention, %" PRId64 " Mamba; %" PRId64
              " MoE, %" PRId64 " dense MLP\n",
              plan.size(), attn, static_cast<int64_t>(plan.size()) - attn, moe,
              static_cast<int64_t>(plan.size()) - moe);
  std::printf("layer plan        %s   (A attention, M Mamba, + MoE)\n", c.PlanString().c_str());
  std::printf("attention layers  %s\n", LayerList(plan, is_attn).c_str());
  std::printf("MoE layers        %s\n", LayerList(plan, is_moe).c_str());
}

void PrintSizes(const Checkpoint& ck) {
  const ModelConfig& c = ck.config();
  const Memory m = EstimateMemory(c);
  std::printf("parameters        %s total, %s active per token\n",
              Count(c.ParameterCount()).c_str(), Count(c.ActiveParameterCount()).c_str());
  std::printf("stored as         %s in %zu file%s (config dtype %s)\n",
              std::string(DTypeName(ck.MainDType())).c_str(), ck.ShardCount(),
              ck.ShardCount() == 1 ? "" : "s", c.torch_dtype.c_str());
  std::printf("memory: weights   %s as stored, %s in bf16\n",
              Bytes(static_cast<double>(ck.TotalBytes())).c_str(),
              Bytes(static_cast<double>(c.ParameterCount()) * 2).c_str());
  std::printf(
      "memory: KV cache  %s per token in bf16 (%" PRId64 " attention layers), %s at %" PRId64
      " tokens\n",
      Bytes(m.kv_bytes_per_token_bf16).c_str(), m.attention_layers,
      Bytes(m.kv_bytes_per_token_bf16 * static_cast<double>(c.max_position_embeddings)).c_str(),
      c.max_position_embeddings);
  std::printf("memory: Mamba     %s of float32 state per sequence (%" PRId64
              " layers), whatever the length\n",
              Bytes(m.mamba_state_bytes).c_str(), m.mamba_layers);
}

}  // namespace

int RunInfo(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const auto model = args.Get("model");
  if (!args.error().empty()) return FailInfo(args.error());
  if (const std::string unused = args.UnusedOptions(); !unused.empty()) return FailInfo(unused);
  if (!model || model->empty()) return FailInfo("--model DIR is required (a checkpoint folder)");
  if (!args.positionals().empty())
    return FailInfo("unexpected argument '" + args.positionals()[0] + "'");
  auto ck = Checkpoint::Open(*model);
  if (!ck.ok()) return FailInfo(ck.status().message());
  if (Status s = (*ck)->CheckIntact(); !s.ok()) return FailInfo(s.message());
  std::printf("model             %s\n", model->c_str());
  PrintShapes((*ck)->config());
  PrintPlan((*ck)->config());
  PrintSizes(**ck);
  return kExitOk;
}

}  // namespace folio::cli
