// folio-cli bench: prefill and decode speed against the hardware floor (engine/cost_model.h),
// on a real checkpoint (--model) or on seeded random weights of a published shape made
// without files (--synthetic jamba-1.5-mini: on the GPU directly).
//
//   folio-cli bench --synthetic jamba-1.5-mini --device cuda --context 4096,32768,140000
//
// For each context: prefill that many seeded random tokens (timed), then two untimed
// warm-up steps, then --new-tokens greedy tokens (ms/token, sampling included), and the
// peak memory.
// Each figure is printed beside its floor: prefill FLOPs / peak FLOP/s and decode bytes
// read per token / bandwidth (JAMBA.md's H200 figures on CUDA; on the CPU this machine's
// measured copy bandwidth, and the FLOP floor only with --peak-tflops). --repeat runs each
// context again and prints the spread, so a reader can see whether the figures are stable.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/cost_model.h"
#include "engine/cpu_backend.h"
#include "engine/cuda_loader.h"
#include "engine/ops.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "engine/synthetic.h"

namespace folio::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// "80G", "80GiB", "80GB", "512M", "1T", or bytes. K/M/G/T and KiB.. are powers of 1024;
// KB/MB/GB/TB powers of 1000. 0 on anything else.
uint64_t ParseSize(const std::string& s) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    return 0;
  }
  std::string unit = s.substr(used);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  static const struct {
    const char* u;
    double f;
  } kUnits[] = {{"", 1},
                {"B", 1},
                {"K", 1024.0},
                {"KIB", 1024.0},
                {"KB", 1e3},
                {"M", 1048576.0},
                {"MIB", 1048576.0},
                {"MB", 1e6},
                {"G", 1073741824.0},
                {"GIB", 1073741824.0},
                {"GB", 1e9},
                {"T", 1099511627776.0},
                {"TIB", 1099511627776.0},
                {"TB", 1e12}};
  for (const auto& u : kUnits)
    if (unit == u.u && v > 0) return static_cast<uint64_t>(v * u.f);
  return 0;
}

bool ParseContexts(const std::string& s, std::vector<int64_t>* out) {
  std::vector<int64_t> ids;
  if (!ParseIdList(s, &ids) || ids.empty()) return false;
  for (int64_t v : ids)
    if (v < 1) return false;
  *out = ids;
  return true;
}

// Bytes of host memory available now (MemAvailable), 0 when unknown.
uint64_t HostMemAvailable() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// This machine's copy bandwidth (bytes/s): the CPU decode floor. 64 MiB copied 3 times.
double MeasureHostCopyBandwidth() {
  const size_t n = 64u << 20;  // well past any L3 here
  std::vector<char> a(n, 1), b(n, 0);
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    std::memcpy(b.data(), a.data(), n);
    const double s = Seconds(t0);
    best = std::max(best, 2.0 * n / s);    // read + write
    a[static_cast<size_t>(i)] = b[n - 1];  // keep the copies observable
  }
  return best;
}

struct BenchOptions {
  std::string model, synthetic, device;
  std::vector<int64_t> contexts;
  int64_t new_tokens = 32, chunk = 0, repeat = 1, threads = 0, seed = 1;
  bool profile = false, json = false, experts_int8 = false, graphs = true, plan_only = false;
  uint64_t memory_limit = 0;
  double peak_bandwidth = 0, peak_flops = 0;  // overrides (bytes/s, FLOP/s)
};

std::string ReadOptions(Args& args, BenchOptions* o) {
  o->model = args.GetOr("model", "");
  o->synthetic = args.GetOr("synthetic", "");
  o->device = args.GetOr("device", "cpu");
  o->new_tokens = args.GetInt("new-tokens", 32);
  o->chunk = args.GetInt("chunk", 0);
  o->repeat = args.GetInt("repeat", 1);
  o->threads = args.GetInt("threads", 0);
  o->seed = args.GetInt("seed", 1);
  o->profile = args.Flag("profile");
  o->json = args.Flag("json");
  o->experts_int8 = args.Flag("experts-int8");
  o->graphs = !args.Flag("no-cuda-graphs");
  o->plan_only = args.Flag("plan-only");
  o->peak_bandwidth = args.GetDouble("peak-bandwidth", 0) * 1e9;  // GB/s
  o->peak_flops = args.GetDouble("peak-tflops", 0) * 1e12;
  const auto ctx = args.Get("context");
  const auto prompt = args.Get("prompt-tokens");  // the older spelling: one context
  const auto limit = args.Get("memory-limit");
  if (!args.error().empty()) return args.error();
  if (!args.positionals().empty()) return "unexpected argument '" + args.positionals()[0] + "'";
  if (std::string u = args.UnusedOptions(); !u.empty()) return u;
  if (o->model.empty() == o->synthetic.empty())
    return "give either --model DIR or --synthetic NAME (jamba-1.5-mini, jamba-tiny)";
  if (o->device != "cpu" && o->device != "cuda" && o->device != "auto")
    return "unknown --device '" + o->device + "' (expected cpu, cuda or auto)";
  if (ctx && prompt) return "--context and --prompt-tokens are the same thing; give one";
  if (ctx || prompt) {
    if (!ParseContexts(ctx ? *ctx : *prompt, &o->contexts))
      return "--context expects positive token counts like 4096,32768,140000";
  } else {
    o->contexts = {512};
  }
  if (limit) {
    o->memory_limit = ParseSize(*limit);
    if (o->memory_limit == 0) return "--memory-limit expects a size like 80G, 80GB or 81920M";
  }
  if (o->new_tokens < 0) return "--new-tokens must be >= 0";
  if (o->chunk < 0) return "--chunk must be >= 1";
  if (o->repeat < 1 || o->repeat > 100) return "--repeat must be between 1 and 100";
  if (o->threads < 0 || o->threads > 1024)
    return "--threads must be between 0 (all cores) and 1024";
  if (o->peak_bandwidth < 0 || o->peak_flops < 0) return "--peak-* must be positive";
  return {};
}

// The checkpoint: a folder, or a synthetic model (on the CPU fully materialised; for the
// GPU only what the engine reads on the host, the rest filled on the device).
Result<std::shared_ptr<const Checkpoint>> OpenCheckpoint(const BenchOptions& o, bool on_gpu) {
  if (!o.model.empty()) {
    FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ck, Checkpoint::Open(o.model));
    return std::shared_ptr<const Checkpoint>(std::move(ck));
  }
  FOLIO_ASSIGN_OR_RETURN(ModelConfig config, SyntheticConfig(o.synthetic));
  SyntheticOptions so;
  so.seed = static_cast<uint64_t>(o.seed);
  so.materialize_below = on_gpu ? (1 << 20) : INT64_MAX;
  if (!on_gpu) {
    const uint64_t need = CountModelCost(config).weight_bytes;
    const uint64_t have = HostMemAvailable();
    if (have && need > have * 9 / 10)
      return ResourceExhausted("synthetic " + o.synthetic + " needs " + FormatGiB(need) +
                               " of RAM for its weights and this machine has " + FormatGiB(have) +
                               " available; use --device cuda or a smaller model (jamba-tiny)");
  }
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ck, MakeSyntheticCheckpoint(config, so));
  return std::shared_ptr<const Checkpoint>(std::move(ck));
}

Result<std::unique_ptr<Backend>> MakeBenchBackend(const BenchOptions& o,
                                                  std::shared_ptr<const Checkpoint> ck, bool on_gpu,
                                                  int64_t planned_context) {
  if (on_gpu) {
    CudaBackendOptions co;
    co.planned_context = planned_context;
    co.chunk = o.chunk;
    co.experts_int8 = o.experts_int8;
    co.memory_limit_bytes = o.memory_limit;
    co.cuda_graphs = o.graphs;
    co.progress = GpuUploadProgress();
    return OpenCudaBackendFor(std::move(ck), co);
  }
  CpuBackendOptions cpu;
  cpu.threads = static_cast<int>(o.threads);
  cpu.experts_int8 = o.experts_int8;
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CpuBackend> b, CpuBackend::Create(std::move(ck), cpu));
  return std::unique_ptr<Backend>(std::move(b));
}

constexpr int kWarmupSteps = 2;  // untimed decode steps before the timed ones

struct Run {
  int64_t context = 0;
  int repeat = 0;
  double prefill_s = 0, decode_ms = 0, sampling_ms = 0;
  uint64_t peak_bytes = 0;
  ForwardProfile prefill_profile, decode_profile;
};

// Memory in use now: on the GPU the device's (total - free), on the CPU this process's
// resident set (sampled after prefill and after decode; the larger is reported).
uint64_t MemoryInUse(const Backend& b, bool on_gpu) {
  if (on_gpu) return b.Memory().in_use_bytes;
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

Result<Run> MeasureOnce(Backend& backend, const BenchOptions& o, int64_t context, int repeat,
                        bool on_gpu) {
  Run r;
  r.context = context;
  r.repeat = repeat;
  const int64_t V = backend.config().vocab_size;
  FOLIO_ASSIGN_OR_RETURN(
      std::unique_ptr<Session> session,
      Session::Create(backend, {context + kWarmupSteps + o.new_tokens + 1, o.chunk}));
  std::mt19937_64 rng(static_cast<uint64_t>(o.seed) * 1000003u + static_cast<uint64_t>(context));
  std::vector<int64_t> prompt(static_cast<size_t>(context));
  for (auto& id : prompt) id = static_cast<int64_t>(rng() % static_cast<uint64_t>(V));
  if (o.profile) {
    FOLIO_RETURN_IF_ERROR(backend.SetProfiling(true));
    backend.TakeProfile();
  }
  auto t0 = Clock::now();
  FOLIO_RETURN_IF_ERROR(session->Append(prompt));
  r.prefill_s = Seconds(t0);
  r.peak_bytes = MemoryInUse(backend, on_gpu);
  if (o.profile) r.prefill_profile = backend.TakeProfile();
  Sampler greedy(SamplingParams{.greedy = true});
  // Two untimed steps first: a new cache's first decode step runs eagerly and its second
  // captures the CUDA graph; neither is what a user waits for on every later token.
  if (o.new_tokens > 0) {
    for (int i = 0; i < kWarmupSteps; ++i)
      FOLIO_RETURN_IF_ERROR(
          session->Step(greedy.Sample(session->last_logits(), session->tokens())));
    if (o.profile) backend.TakeProfile();
  }
  double sampling_s = 0;
  t0 = Clock::now();
  for (int64_t i = 0; i < o.new_tokens; ++i) {
    const auto ts = Clock::now();
    const int64_t id = greedy.Sample(session->last_logits(), session->tokens());
    sampling_s += Seconds(ts);
    FOLIO_RETURN_IF_ERROR(session->Step(id));
  }
  const double decode_s = Seconds(t0);
  if (o.new_tokens > 0) {
    r.decode_ms = 1e3 * decode_s / static_cast<double>(o.new_tokens);
    r.sampling_ms = 1e3 * sampling_s / static_cast<double>(o.new_tokens);
  }
  r.peak_bytes = std::max(r.peak_bytes, MemoryInUse(backend, on_gpu));
  if (o.profile) {
    r.decode_profile = backend.TakeProfile();
    r.decode_profile.at(ProfilePart::kSampling) += 1e3 * sampling_s;
    FOLIO_RETURN_IF_ERROR(backend.SetProfiling(false));
  }
  return r;
}

// Spread of a figure over repeats: (max - min) / min.
double Spread(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *lo > 0 ? (*hi - *lo) / *lo : 0;
}

Json ProfileJson(const ForwardProfile& p) {
  Json parts = Json::object();
  for (size_t i = 0; i < kProfileParts; ++i)
    parts[ProfilePartName(static_cast<ProfilePart>(i))] = p.ms[i];
  Json layers = Json::array();
  for (const auto& l : p.layer_ms) {
    Json row = Json::object();
    for (size_t i = 0; i < kProfileParts; ++i)
      if (l[i] > 0) row[ProfilePartName(static_cast<ProfilePart>(i))] = l[i];
    layers.push_back(row);
  }
  return {{"ms", parts},
          {"total_ms", p.total_ms},
          {"forwards", p.forwards},
          {"tokens", p.tokens},
          {"layers_ms", layers}};
}

void PrintProfile(FILE* out, const char* what, const ForwardProfile& p) {
  double sum = 0;
  for (double v : p.ms) sum += v;
  std::fprintf(out, "    %s profile (%lld forwards, %lld tokens, %.1f ms wall):", what,
               static_cast<long long>(p.forwards), static_cast<long long>(p.tokens), p.total_ms);
  for (size_t i = 0; i < kProfileParts; ++i) {
    if (p.ms[i] <= 0) continue;
    std::fprintf(out, " %s %.1f ms (%.0f%%)", ProfilePartName(static_cast<ProfilePart>(i)), p.ms[i],
                 sum > 0 ? 100.0 * p.ms[i] / sum : 0.0);
  }
  std::fprintf(out, "\n");
}

// "512 B", "12.0 KiB", "3.4 MiB", "96.07 GiB".
std::string Bytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) return FormatGiB(b);
  if (b >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else if (b >= 1024.0) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  }
  return buf;
}

// "51.6B", "644.6K"
std::string Count(int64_t n) {
  char buf[32];
  const double v = static_cast<double>(n);
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.1fB", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  }
  return buf;
}

std::string Commas(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

// --plan-only: what the model needs and what its floors are at each context, from the
// config alone (no weights, no device): so a reader can see what fits on which card.
int RunPlan(const BenchOptions& o) {
  auto config = o.synthetic.empty() ? LoadModelConfig(o.model) : SyntheticConfig(o.synthetic);
  if (!config.ok()) return Fail(config.status());
  CostOptions cost;
  cost.experts_int8 = o.experts_int8;
  const ModelCost mc = CountModelCost(*config, cost);
  const HardwareFloor floor = HardwareFloor::H200();
  const double bandwidth = o.peak_bandwidth > 0 ? o.peak_bandwidth : floor.bandwidth;
  const double flops = o.peak_flops > 0 ? o.peak_flops : floor.flops;
  // The budget: --memory-limit, else one H200's 141 GB. 4 GiB stay for workspace and runtime.
  const uint64_t budget = o.memory_limit ? o.memory_limit : 141000000000ull;
  const uint64_t reserve = 4ull << 30;
  const int64_t fits = LargestContext(*config, budget, reserve, cost);
  FILE* human = o.json ? stderr : stdout;
  std::fprintf(human, "plan for %s%s (arithmetic from the config; nothing is run)\n",
               o.synthetic.empty() ? o.model.c_str() : o.synthetic.c_str(),
               o.experts_int8 ? ", int8 experts" : "");
  std::fprintf(human, "weights %s (experts %s); K/V %s per token; Mamba state %s\n",
               Bytes(static_cast<double>(mc.weight_bytes)).c_str(),
               Bytes(static_cast<double>(mc.expert_bytes)).c_str(),
               Bytes(static_cast<double>(mc.kv_bytes_per_token)).c_str(),
               Bytes(static_cast<double>(mc.mamba_state_bytes)).c_str());
  std::fprintf(human, "budget %s with %s reserved: largest context %s tokens (model maximum %s)\n",
               Bytes(static_cast<double>(budget)).c_str(),
               Bytes(static_cast<double>(reserve)).c_str(), Commas(fits).c_str(),
               Commas(config->max_position_embeddings).c_str());
  std::fprintf(human, "floors at %.0f GB/s and %.0f TFLOP/s:\n", bandwidth / 1e9, flops / 1e12);
  std::fprintf(human, "%9s %14s %14s %16s %6s\n", "context", "prefill floor", "decode floor",
               "memory needed", "fits");
  Json rows = Json::array();
  for (int64_t context : o.contexts) {
    const double pre = PrefillFlops(*config, context) / flops;
    const double dec = 1e3 * DecodeBytesPerToken(*config, context, cost) / bandwidth;
    const double need = static_cast<double>(mc.weight_bytes + mc.mamba_state_bytes + reserve) +
                        static_cast<double>(mc.kv_bytes_per_token) * static_cast<double>(context);
    const bool ok = context <= fits;
    std::fprintf(human, "%9s %12.3f s %11.3f ms %16s %6s\n", Commas(context).c_str(), pre, dec,
                 Bytes(need).c_str(), ok ? "yes" : "no");
    rows.push_back({{"context", context},
                    {"prefill_floor_s", pre},
                    {"decode_floor_ms", dec},
                    {"memory_needed_bytes", need},
                    {"fits", ok}});
  }
  if (o.json) {
    const Json out = {{"model", o.synthetic.empty() ? o.model : o.synthetic},
                      {"experts_int8", o.experts_int8},
                      {"weight_bytes", mc.weight_bytes},
                      {"expert_bytes", mc.expert_bytes},
                      {"kv_bytes_per_token", mc.kv_bytes_per_token},
                      {"budget_bytes", budget},
                      {"reserve_bytes", reserve},
                      {"max_context_fits", fits},
                      {"contexts", rows}};
    std::printf("%s\n", out.dump(2).c_str());
  }
  return kExitOk;
}

}  // namespace

int RunBench(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"profile", "json", "experts-int8", "no-cuda-graphs", "plan-only"});
  BenchOptions o;
  if (std::string problem = ReadOptions(args, &o); !problem.empty()) return Fail(problem);
  if (o.plan_only) return RunPlan(o);

  bool on_gpu = o.device == "cuda";
  if (o.device == "auto") on_gpu = CudaUnavailable().empty();
  if (o.chunk == 0) o.chunk = on_gpu ? 2048 : 512;
  if (!on_gpu && o.threads > 0) cpu::SetNumThreads(static_cast<int>(o.threads));
  const int64_t longest = *std::max_element(o.contexts.begin(), o.contexts.end());

  auto ck = OpenCheckpoint(o, on_gpu);
  if (!ck.ok()) return Fail(ck.status());
  const ModelConfig config = (*ck)->config();
  const auto t_load = Clock::now();
  auto backend = MakeBenchBackend(o, *ck, on_gpu, longest + kWarmupSteps + o.new_tokens + 1);
  if (!backend.ok()) return Fail(backend.status());
  const double load_s = Seconds(t_load);
  Backend& b = **backend;

  CostOptions cost;
  cost.experts_int8 = o.experts_int8;
  const ModelCost mc = CountModelCost(config, cost);
  HardwareFloor floor;
  if (on_gpu) {
    floor = HardwareFloor::H200();
  } else {
    floor.name = "this CPU's measured copy bandwidth";
    floor.bandwidth = MeasureHostCopyBandwidth();
  }
  if (o.peak_bandwidth > 0 || o.peak_flops > 0) floor.name = "given --peak-bandwidth/--peak-tflops";
  if (o.peak_bandwidth > 0) floor.bandwidth = o.peak_bandwidth;
  if (o.peak_flops > 0) floor.flops = o.peak_flops;
  const BackendMemory mem = b.Memory();

  FILE* human = o.json ? stderr : stdout;
  const std::string name = o.synthetic.empty() ? o.model : "synthetic " + o.synthetic;
  std::fprintf(human, "model: %s, %s parameters (%s active per token), %s%s\n", name.c_str(),
               Count(config.ParameterCount()).c_str(), Count(config.ActiveParameterCount()).c_str(),
               b.name().c_str(), o.experts_int8 ? ", int8 experts" : "");
  std::fprintf(human,
               "weights: %s as counted (experts %s), %s held by the backend; ready in %.1f s\n",
               Bytes(static_cast<double>(mc.weight_bytes)).c_str(),
               Bytes(static_cast<double>(mc.expert_bytes)).c_str(),
               Bytes(static_cast<double>(mem.weight_bytes)).c_str(), load_s);
  std::fprintf(human, "cache: K/V %s per token, Mamba state %s per sequence",
               Bytes(static_cast<double>(mc.kv_bytes_per_token)).c_str(),
               Bytes(static_cast<double>(mc.mamba_state_bytes)).c_str());
  if (mem.max_context > 0)
    std::fprintf(
        human, "; largest context that fits %s: %s tokens (model maximum %s)",
        mem.limit_bytes ? ("in " + FormatGiB(static_cast<double>(mem.limit_bytes))).c_str() : "",
        Commas(mem.max_context).c_str(), Commas(config.max_position_embeddings).c_str());
  std::fprintf(
      human, "\nfloor: %s: %.0f GB/s%s\n", floor.name.c_str(), floor.bandwidth / 1e9,
      floor.flops > 0
          ? (", " + std::to_string(static_cast<int>(floor.flops / 1e12)) + " TFLOP/s").c_str()
          : ", no FLOP floor (give --peak-tflops)");
  std::fprintf(human, "%9s %4s %10s %11s %8s %11s %8s %9s %12s\n", "context", "run", "prefill s",
               "tokens/s", "of floor", "ms/token", "of floor", "sample ms", "peak memory");

  Json runs = Json::array();
  std::vector<Run> all;
  for (int64_t context : o.contexts) {
    for (int rep = 0; rep < o.repeat; ++rep) {
      auto r = MeasureOnce(b, o, context, rep + 1, on_gpu);
      if (!r.ok()) {
        std::fflush(human);
        return Fail(r.status().WithContext("context " + std::to_string(context)));
      }
      const double flops = PrefillFlops(config, context);
      const double prefill_floor = floor.flops > 0 ? flops / floor.flops : 0;
      // The timed steps ran after context + warm-up tokens: the floor at their middle.
      const double bytes =
          DecodeBytesPerToken(config, context + kWarmupSteps + o.new_tokens / 2, cost);
      const double decode_floor_ms = 1e3 * bytes / floor.bandwidth;
      const double prefill_frac = prefill_floor > 0 ? prefill_floor / r->prefill_s : 0;
      const double decode_frac = r->decode_ms > 0 ? decode_floor_ms / r->decode_ms : 0;
      char pf[16] = "       -";
      if (prefill_frac > 0) std::snprintf(pf, sizeof pf, "%7.0f%%", 100 * prefill_frac);
      std::fprintf(human, "%9s %4d %10.3f %11.0f %8s %11.3f %7.0f%% %9.3f %12s\n",
                   Commas(context).c_str(), rep + 1, r->prefill_s, context / r->prefill_s, pf,
                   r->decode_ms, 100 * decode_frac, r->sampling_ms,
                   Bytes(static_cast<double>(r->peak_bytes)).c_str());
      if (o.profile) {
        PrintProfile(human, "prefill", r->prefill_profile);
        if (o.new_tokens > 0) PrintProfile(human, "decode", r->decode_profile);
      }
      std::fflush(human);
      Json j = {{"context", context},
                {"repeat", rep + 1},
                {"prefill_s", r->prefill_s},
                {"prefill_tokens_per_s", context / r->prefill_s},
                {"prefill_flops", flops},
                {"prefill_floor_s", prefill_floor},
                {"prefill_fraction_of_floor", prefill_frac},
                {"decode_tokens", o.new_tokens},
                {"decode_ms_per_token", r->decode_ms},
                {"decode_bytes_per_token", bytes},
                {"decode_floor_ms", decode_floor_ms},
                {"decode_fraction_of_floor", decode_frac},
                {"sampling_ms_per_token", r->sampling_ms},
                {"peak_memory_bytes", r->peak_bytes}};
      if (o.profile) {
        j["prefill_profile"] = ProfileJson(r->prefill_profile);
        j["decode_profile"] = ProfileJson(r->decode_profile);
      }
      runs.push_back(j);
      all.push_back(std::move(*r));
    }
  }

  // Stability: each context's figures over its repeats.
  Json spread = Json::array();
  bool stable = true;
  if (o.repeat > 1) {
    for (int64_t context : o.contexts) {
      std::vector<double> pre, dec;
      for (const Run& r : all)
        if (r.context == context) pre.push_back(r.prefill_s), dec.push_back(r.decode_ms);
      const double sp = Spread(pre), sd = o.new_tokens > 0 ? Spread(dec) : 0;
      stable = stable && sp <= 0.05 && sd <= 0.05;
      std::fprintf(human, "repeat spread at %s: prefill %.1f%%, decode %.1f%%%s\n",
                   Commas(context).c_str(), 100 * sp, 100 * sd,
                   sp <= 0.05 && sd <= 0.05 ? " (within 5%)" : " (NOT within 5%)");
      spread.push_back({{"context", context}, {"prefill", sp}, {"decode", sd}});
    }
  }
  if (o.json) {
    Json out = {
        {"model", name},
        {"backend", b.name()},
        {"experts_int8", o.experts_int8},
        {"parameters", config.ParameterCount()},
        {"active_parameters", config.ActiveParameterCount()},
        {"weight_bytes_counted", mc.weight_bytes},
        {"expert_bytes_counted", mc.expert_bytes},
        {"weight_bytes_held", mem.weight_bytes},
        {"kv_bytes_per_token", mc.kv_bytes_per_token},
        {"memory_limit_bytes", mem.limit_bytes},
        {"max_context_fits", mem.max_context},
        {"load_s", load_s},
        {"chunk", o.chunk},
        {"floor", {{"name", floor.name}, {"bandwidth", floor.bandwidth}, {"flops", floor.flops}}},
        {"runs", runs},
        {"repeat_spread", spread},
        {"stable_within_5_percent", stable}};
    std::printf("%s\n", out.dump(2).c_str());
  }
  return kExitOk;
}

}  // namespace folio::cli
