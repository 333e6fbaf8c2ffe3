// folio-cli tokenize | detokenize | generate --prompt | chat | make-tiny-model: the engine on
// text, through the checkpoint's tokenizer and chat template.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/chat_template.h"
#include "engine/cpu_backend.h"
#include "engine/cuda_loader.h"
#include "engine/generate.h"
#include "engine/tiny_model.h"
#include "engine/tokenizer.h"

namespace folio::cli {
namespace {

std::string UnknownOptions(const Args& args) {
  return !args.error().empty() ? args.error() : args.UnusedOptions();
}

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir) {
  if (dir.empty())
    return InvalidArgument("--model DIR is required (a folder with tokenizer.model)");
  return Tokenizer::Load(dir);
}

// cpu, cuda or auto (the GPU when the CUDA module, a device and the memory are there,
// else the CPU, saying why on stderr).
Result<std::unique_ptr<Backend>> OpenBackend(const std::string& device, const std::string& dir,
                                             int threads) {
  if (device != "cpu" && device != "auto" && device != "cuda")
    return InvalidArgument("unknown --device '" + device + "' (expected cpu, cuda or auto)");
  if (device != "cpu") {
    auto cuda = OpenCudaBackend(dir, CudaBackendOptions{});
    if (cuda.ok() || device == "cuda") return cuda;
    if (cuda.status().code() != ErrorCode::kUnsupported)
      std::fprintf(stderr, "folio-cli: %s; running on the CPU\n", cuda.status().message().c_str());
  }
  FOLIO_ASSIGN_OR_RETURN(std::unique_ptr<CpuBackend> cpu,
                         CpuBackend::Open(dir, CpuBackendOptions{threads, false}));
  return std::unique_ptr<Backend>(std::move(cpu));
}

// Sampling and length options shared by generate --prompt and chat.
struct TextGenArgs {
  std::string model, device;
  int64_t threads = 0;
  GenerateParams params;
  std::string problem;  // non-empty when an option is bad
};

TextGenArgs ReadTextGenArgs(Args& args) {
  TextGenArgs t;
  t.model = args.GetOr("model", "");
  t.device = args.GetOr("device", "cpu");
  t.threads = args.GetInt("threads", 0);
  t.params.max_new_tokens = args.GetInt("max-new", 256);
  SamplingParams& p = t.params.sampling;
  const bool greedy = args.Flag("greedy");
  const bool sampling = args.Get("temperature") || args.Get("top-p") || args.Get("top-k");
  p.temperature = static_cast<float>(args.GetDouble("temperature", 0.7));
  p.top_p = static_cast<float>(args.GetDouble("top-p", 0.9));
  p.top_k = args.GetInt("top-k", 0);
  p.repetition_penalty = static_cast<float>(args.GetDouble("repetition-penalty", 1.0));
  p.seed = static_cast<uint64_t>(args.GetInt("seed", 0));
  p.greedy = greedy;
  if (t.model.empty())
    t.problem = "--model DIR is required";
  else if (greedy && sampling)
    t.problem = "--greedy cannot be combined with --temperature, --top-p or --top-k";
  else if (t.params.max_new_tokens < 0)
    t.problem = "--max-new must be >= 0";
  else if (t.threads < 0 || t.threads > 1024)
    t.problem = "--threads must be between 0 and 1024";
  else if (Status v = ValidateSamplingParams(p); !v.ok())
    t.problem = v.message();
  return t;
}

// eos, the chat template's end of turn, and the config's eos ids.
std::vector<int64_t> StopIds(const Tokenizer& tok, const ChatTemplate& chat, const ModelConfig& c) {
  std::vector<int64_t> ids = chat.StopIds(tok);
  for (int64_t id : c.eos_token_ids)
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  if (std::find(ids.begin(), ids.end(), c.eos_token_id) == ids.end()) ids.push_back(c.eos_token_id);
  return ids;
}

void PrintStats(const GenerateStats& s) {
  std::fprintf(
      stderr, "\n[%lld prompt tokens, prefill %.1f ms; %lld new tokens, %.1f tokens/s; %s]\n",
      static_cast<long long>(s.prompt_tokens), s.prefill_ms, static_cast<long long>(s.new_tokens),
      s.decode_tokens_per_s, StopReasonName(s.reason));
}

bool WritePiece(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
  return true;
}

// Ctrl-C in chat: stops the answer being written, not the program.
std::atomic<bool> g_interrupt{false};
extern "C" void OnSigint(int) {
  g_interrupt.store(true);
}

void InstallSigint() {
  struct sigaction sa = {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a Ctrl-C at the prompt does not end the read
  sigaction(SIGINT, &sa, nullptr);
}

}  // namespace

int RunTokenize(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"bos", "plain", "pieces"});
  const std::string model = args.GetOr("model", "");
  const bool bos = args.Flag("bos"), plain = args.Flag("plain"), pieces = args.Flag("pieces");
  std::string problem = UnknownOptions(args);
  if (problem.empty() && args.positionals().size() != 1)
    problem = "give the text as one argument: folio-cli tokenize --model DIR \"text\"";
  if (!problem.empty()) return Fail(problem);
  auto tok = LoadTokenizer(model);
  if (!tok.ok()) return Fail(tok.status());
  auto ids =
      (*tok)->Encode(args.positionals()[0], bos,
                     plain ? Tokenizer::SpecialText::kPlain : Tokenizer::SpecialText::kParse);
  if (!ids.ok()) return Fail(ids.status());
  std::string line;
  for (int64_t id : *ids) {
    if (!line.empty()) line += ' ';
    line += pieces ? (*tok)->PieceText(id) : std::to_string(id);
  }
  std::printf("%s\n", line.c_str());
  return kExitOk;
}

int RunDetokenize(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const std::string model = args.GetOr("model", "");
  std::string problem = UnknownOptions(args);
  std::vector<int64_t> ids;
  for (const std::string& p : args.positionals()) {
    std::vector<int64_t> part;
    if (!ParseIdList(p, &part)) {
      problem = "token ids must be integers (\"1 2 3\" or \"1,2,3\"), got '" + p + "'";
      break;
    }
    ids.insert(ids.end(), part.begin(), part.end());
  }
  if (problem.empty() && ids.empty())
    problem = "give token ids: folio-cli detokenize --model DIR 1 2 3";
  if (!problem.empty()) return Fail(problem);
  auto tok = LoadTokenizer(model);
  if (!tok.ok()) return Fail(tok.status());
  auto text = (*tok)->Decode(ids);
  if (!text.ok()) return Fail(text.status());
  std::printf("%s\n", text->c_str());
  return kExitOk;
}

int RunGeneratePrompt(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"greedy", "chat", "stats"});
  TextGenArgs t = ReadTextGenArgs(args);
  const std::string prompt = args.GetOr("prompt", "");
  const bool chat_mode = args.Flag("chat"), stats = args.Flag("stats");
  const std::string system = args.GetOr("system", "");
  std::string problem = t.problem.empty() ? UnknownOptions(args) : t.problem;
  if (problem.empty() && !args.positionals().empty())
    problem = "unexpected argument '" + args.positionals()[0] + "'";
  if (problem.empty() && prompt.empty()) problem = "--prompt \"text\" must not be empty";
  if (!problem.empty()) return Fail(problem);

  auto tok = LoadTokenizer(t.model);
  if (!tok.ok()) return Fail(tok.status());
  auto backend = OpenBackend(t.device, t.model, static_cast<int>(t.threads));
  if (!backend.ok()) return Fail(backend.status());
  auto chat = ChatTemplate::ForTokenizer(**tok, (*backend)->config().model_type);
  if (!chat.ok()) return Fail(chat.status());
  Result<std::vector<int64_t>> ids = std::vector<int64_t>{};
  if (chat_mode) {
    std::vector<ChatMessage> messages;
    if (!system.empty()) messages.push_back({"system", system});
    messages.push_back({"user", prompt});
    ids = chat->RenderIds(**tok, messages);
    t.params.stop_ids = StopIds(**tok, *chat, (*backend)->config());
  } else {
    ids = (*tok)->Encode(prompt, /*add_bos=*/true, Tokenizer::SpecialText::kPlain);
    t.params.stop_ids = {(*backend)->config().eos_token_id};
    if ((*tok)->eos_id() >= 0) t.params.stop_ids.push_back((*tok)->eos_id());
  }
  if (!ids.ok()) return Fail(ids.status());
  auto session = Session::Create(**backend);
  if (!session.ok()) return Fail(session.status());
  auto st = Generate(**session, **tok, *ids, t.params, WritePiece);
  if (!st.ok()) return Fail(st.status());
  std::printf("\n");
  if (stats) PrintStats(*st);
  return kExitOk;
}

int RunChat(int argc, char** argv, int first) {
  // --docs: a conversation over documents through the assistant (cmd_ask.cpp).
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--docs" || a.rfind("--docs=", 0) == 0) return RunDocChat(argc, argv, first);
  }
  Args args(argc, argv, first, {"greedy", "stats"});
  TextGenArgs t = ReadTextGenArgs(args);
  const std::string system = args.GetOr("system", "");
  const bool stats = args.Flag("stats");
  std::string problem = t.problem.empty() ? UnknownOptions(args) : t.problem;
  if (problem.empty() && !args.positionals().empty())
    problem = "unexpected argument '" + args.positionals()[0] + "'";
  if (!problem.empty()) return Fail(problem);
  auto tok = LoadTokenizer(t.model);
  if (!tok.ok()) return Fail(tok.status());
  auto backend = OpenBackend(t.device, t.model, static_cast<int>(t.threads));
  if (!backend.ok()) return Fail(backend.status());
  auto chat = ChatTemplate::ForTokenizer(**tok, (*backend)->config().model_type);
  if (!chat.ok()) return Fail(chat.status());
  auto session = Session::Create(**backend);
  if (!session.ok()) return Fail(session.status());
  Session& s = **session;
  t.params.stop_ids = StopIds(**tok, *chat, (*backend)->config());
  t.params.cancel = &g_interrupt;
  InstallSigint();

  const bool tty = isatty(STDIN_FILENO);
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  const size_t base = messages.size();
  if (tty)
    std::fprintf(stderr, "folio chat: /reset starts over, /quit leaves, Ctrl-C stops an answer\n");
  std::string line;
  while (true) {
    if (tty) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      messages.resize(base);
      if (Status r = s.Reset(); !r.ok()) return Fail(r);
      std::printf("[conversation reset]\n");
      std::fflush(stdout);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    auto ids = chat->RenderIds(**tok, messages);
    if (!ids.ok()) {
      messages.pop_back();
      std::fprintf(stderr, "folio-cli: %s\n", ids.status().message().c_str());
      continue;
    }
    // Continue the session when it already holds the start of this prompt; else start over.
    const auto& held = s.tokens();
    std::span<const int64_t> todo(*ids);
    if (held.size() <= ids->size() && std::equal(held.begin(), held.end(), ids->begin())) {
      todo = todo.subspan(held.size());
    } else if (Status r = s.Reset(); !r.ok()) {
      return Fail(r);
    }
    g_interrupt.store(false);
    std::string answer;
    auto st = Generate(s, **tok, todo, t.params, [&](std::string_view piece) {
      answer += piece;
      return WritePiece(piece);
    });
    std::printf("\n");
    if (!st.ok()) {
      messages.pop_back();
      std::fprintf(stderr, "folio-cli: %s\n", st.status().message().c_str());
      if (st.status().code() == ErrorCode::kResourceExhausted)
        std::fprintf(stderr, "(try /reset)\n");
      continue;
    }
    if (st->reason == StopReason::kCancelled) std::printf("[stopped]\n");
    if (stats) PrintStats(*st);
    std::fflush(stdout);
    messages.push_back({"assistant", answer});
  }
  return kExitOk;
}

int RunMakeTinyModel(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  const std::string out = args.GetOr("out", "");
  const int64_t seed = args.GetInt("seed", 1);
  std::string problem = UnknownOptions(args);
  if (problem.empty() && out.empty()) problem = "--out DIR is required";
  if (problem.empty() && !args.positionals().empty())
    problem = "unexpected argument '" + args.positionals()[0] + "'";
  if (problem.empty() && seed < 0) problem = "--seed must be >= 0";
  if (!problem.empty()) return Fail(problem);
  auto made = MakeTinyModel(out, static_cast<uint64_t>(seed));
  if (!made.ok()) return Fail(made.status());
  std::printf(
      "wrote %s: tiny random Jamba (8 layers, hidden 64, %lld parameters, bf16, %lld shards), "
      "tokenizer with %lld pieces\n",
      out.c_str(), static_cast<long long>(made->parameters), static_cast<long long>(made->shards),
      static_cast<long long>(made->vocab_size));
  std::printf("its output is gibberish: the weights are random; it exists for tests\n");
  return kExitOk;
}

}  // namespace folio::cli
