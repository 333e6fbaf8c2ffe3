// folio-cli logits | generate: the engine from the command line, on raw token ids (bench is
// in cmd_bench.cpp).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/cpu_backend.h"
#include "engine/cuda_loader.h"
#include "engine/ops.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace folio::cli {
namespace {

// Empty when the options parsed and none is unknown; else the message.
std::string OptionsProblem(const Args& args) {
  if (!args.error().empty()) return args.error();
  if (!args.positionals().empty()) return "unexpected argument '" + args.positionals()[0] + "'";
  return args.UnusedOptions();
}

// The CUDA backend (libfolio_cuda.so, loaded on demand), planned for `context` tokens (0:
// the model's maximum); the upload reports its progress on stderr in steps of 10%.
Result<std::unique_ptr<Backend>> MakeCudaBackend(const std::string& dir, int64_t context) {
  CudaBackendOptions o;
  o.planned_context = context;
  o.progress = GpuUploadProgress();
  return OpenCudaBackend(dir, o);
}

// The backend for --device (cpu, auto or cuda) over the checkpoint in `dir`. `context` is
// the longest session the command will run (0: the model's maximum), for the GPU's
// memory plan. auto takes the GPU when there is one and the model fits, else the CPU.
Result<std::unique_ptr<Backend>> MakeBackend(const std::string& device, const std::string& dir,
                                             int threads, int64_t context = 0) {
  if (device != "cpu" && device != "auto" && device != "cuda") {
    return InvalidArgument("unknown --device '" + device + "' (expected cpu, cuda or auto)");
  }
  if (device != "cpu") {
    auto cuda = MakeCudaBackend(dir, context);
    if (cuda.ok() || device == "cuda") return cuda;
    if (cuda.status().code() != ErrorCode::kUnsupported) {  // a GPU, but the model did not go on it
      std::fprintf(stderr, "folio-cli: %s; running on the CPU\n", cuda.status().message().c_str());
    }
  }
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CpuBackend> cpu,
                         CpuBackend::Open(dir, CpuBackendOptions{threads, false}));
  return std::unique_ptr<Backend>(std::move(cpu));
}

// What every engine command reads: --model, --device, --threads.
struct ModelArgs {
  std::string model;
  std::string device;
  int64_t threads = 0;
};

ModelArgs ReadModelArgs(Args& args) {
  ModelArgs m;
  m.model = args.GetOr("model", "");
  m.device = args.GetOr("device", "cpu");
  m.threads = args.GetInt("threads", 0);
  return m;
}

std::string CheckModelArgs(const ModelArgs& m) {
  if (m.model.empty()) return "--model DIR is required (a folder with config.json and *.safetensors)";
  if (m.threads < 0 || m.threads > 1024) return "--threads must be between 0 (all cores) and 1024";
  return {};
}

bool ReadTokens(Args& args, std::vector<int64_t>* ids, std::string* problem) {
  auto s = args.Get("tokens");
  if (!s) {
    *problem = "--tokens ID,ID,... is required (for example --tokens 5,17,301)";
    return false;
  }
  if (!ParseIdList(*s, ids)) {
    *problem = "--tokens expects comma-separated integer ids like 5,17,301, got '" + *s + "'";
    return false;
  }
  return true;
}

// .npy v1.0 header for float32 [rows, cols], C order, padded with spaces to a multiple of
// 64 bytes and ending in '\n' (numpy's format spec).
std::string NpyHeader(int64_t rows, int64_t cols) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                     std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  const size_t fixed = 10;  // magic(6) + version(2) + header length(2)
  size_t total = fixed + dict.size() + 1;
  total = (total + 63) / 64 * 64;
  dict.append(total - fixed - dict.size() - 1, ' ');
  dict += '\n';
  const uint16_t len = static_cast<uint16_t>(dict.size());
  const char prefix[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(len & 0xff),
                           static_cast<char>(len >> 8)};
  std::string out(prefix, sizeof(prefix));
  out.append(dict);
  return out;
}

}  // namespace

int RunLogits(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const ModelArgs m = ReadModelArgs(args);
  std::vector<int64_t> ids;
  std::string problem;
  const bool have_ids = ReadTokens(args, &ids, &problem);
  const std::string out_path = args.GetOr("out", "");
  if (problem.empty()) problem = OptionsProblem(args);
  if (problem.empty()) problem = CheckModelArgs(m);
  if (problem.empty() && out_path.empty()) problem = "--out FILE.npy is required";
  if (!problem.empty() || !have_ids) return Fail(problem);

  auto backend = MakeBackend(m.device, m.model, static_cast<int>(m.threads));
  if (!backend.ok()) return Fail(backend.status());
  auto session = Session::Create(**backend);
  if (!session.ok()) return Fail(session.status());
  const int64_t V = (*backend)->config().vocab_size;

  FILE* f = std::fopen(out_path.c_str(), "wb");
  if (!f) return Fail("cannot write " + out_path + ": " + std::strerror(errno));
  const std::string header = NpyHeader(static_cast<int64_t>(ids.size()), V);
  bool write_ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  // Rows arrive chunk by chunk (little-endian float32 on x86), so memory stays at
  // chunk x vocab whatever T is.
  Status st = (*session)->AppendAll(ids, [&](int64_t, int64_t rows, const float* logits) {
    const size_t n = static_cast<size_t>(rows * V);
    write_ok = write_ok && std::fwrite(logits, sizeof(float), n, f) == n;
  });
  write_ok = std::fclose(f) == 0 && write_ok;
  if (!st.ok() || !write_ok) {
    std::remove(out_path.c_str());
    return st.ok() ? Fail("cannot write " + out_path) : Fail(st);
  }
  return kExitOk;
}

int RunGenerate(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i)  // text prompts go through the tokenizer (cmd_text.cpp)
    if (!std::strcmp(argv[i], "--prompt") || !std::strncmp(argv[i], "--prompt=", 9))
      return RunGeneratePrompt(argc, argv, first);
  Args args(argc, argv, first, {"greedy", "stop-at-eos"});
  const ModelArgs m = ReadModelArgs(args);
  std::vector<int64_t> ids;
  std::string problem;
  const bool have_ids = ReadTokens(args, &ids, &problem);
  const int64_t max_new = args.GetInt("max-new", 32);
  SamplingParams p;
  const bool greedy_flag = args.Flag("greedy");
  p.greedy = greedy_flag;
  const bool sampling = args.Get("temperature") || args.Get("top-p") || args.Get("top-k");
  p.temperature = static_cast<float>(args.GetDouble("temperature", 1.0));
  p.top_p = static_cast<float>(args.GetDouble("top-p", 1.0));
  p.top_k = args.GetInt("top-k", 0);
  p.repetition_penalty = static_cast<float>(args.GetDouble("repetition-penalty", 1.0));
  p.seed = static_cast<uint64_t>(args.GetInt("seed", 0));
  const bool stop_at_eos = args.Flag("stop-at-eos");
  if (!p.greedy && !sampling) p.greedy = true;  // no sampling option: greedy
  if (problem.empty()) problem = OptionsProblem(args);
  if (problem.empty()) problem = CheckModelArgs(m);
  if (problem.empty() && greedy_flag && sampling) {
    problem = "--greedy cannot be combined with --temperature, --top-p or --top-k";
  }
  if (problem.empty() && max_new < 0) problem = "--max-new must be >= 0";
  if (problem.empty()) {
    if (Status v = ValidateSamplingParams(p); !v.ok()) problem = v.message();
  }
  if (!problem.empty() || !have_ids) return Fail(problem);

  auto backend = MakeBackend(m.device, m.model, static_cast<int>(m.threads));
  if (!backend.ok()) return Fail(backend.status());
  const ModelConfig& config = (*backend)->config();
  auto session = Session::Create(**backend);
  if (!session.ok()) return Fail(session.status());
  Session& s = **session;
  if (Status st = s.Append(ids); !st.ok()) return Fail(st);
  Sampler sampler(p);
  std::string line;
  for (int64_t i = 0; i < max_new; ++i) {
    const int64_t id = sampler.Sample(s.last_logits(), s.tokens());
    if (!line.empty()) line.push_back(' ');
    line.append(std::to_string(id));
    const bool eos = std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) !=
                         config.eos_token_ids.end() ||
                     id == config.eos_token_id;
    if ((stop_at_eos && eos) || i + 1 == max_new) break;
    if (Status st = s.Step(id); !st.ok()) {
      std::printf("%s\n", line.c_str());
      return Fail(st);
    }
  }
  std::printf("%s\n", line.c_str());
  return kExitOk;
}


}  // namespace folio::cli
