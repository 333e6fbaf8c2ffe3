// folio-cli ask | chat: questions about the library's documents through the assistant
// (app/assistant). Answers stream to stdout; with --json the last line is the answer as JSON.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "app/assistant/assistant.h"
#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/library_cli.h"

namespace folio::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnInterrupt(int) {
  g_stop.store(true);
}

struct AskArgs {
  std::vector<int64_t> docs;
  std::string model;
  int64_t max_new = 256;
  int64_t context = 0;
  int64_t threads = 0;
  bool json = false;
};

// Reads the options ask and chat share; "" when fine, else the problem.
std::string ReadAskArgs(Args& args, AskArgs* a) {
  if (auto d = args.Get("docs"); d && !ParseIdList(*d, &a->docs)) {
    return "--docs expects document ids like 1,4 (see folio-cli docs), got '" + *d + "'";
  }
  a->model = args.GetOr("model", "");
  a->max_new = args.GetInt("max-new", 256);
  a->context = args.GetInt("context", 0);
  a->threads = args.GetInt("threads", 0);
  a->json = args.Flag("json");
  (void)args.Get("library");  // read again by OpenLibraryOrReport; known, not a typo
  if (!args.error().empty()) return args.error();
  if (a->max_new < 1 || a->max_new > 32768) return "--max-new must be between 1 and 32768";
  if (a->context < 0) return "--context must be a number of tokens (0 = the model's maximum)";
  if (a->threads < 0 || a->threads > 1024) return "--threads must be between 0 and 1024";
  return {};
}

void PrintAnswerEnd(const assistant::Answer& a, bool json) {
  if (a.mode == assistant::AnswerMode::kRetrieval) {
    std::printf("\n(answered from excerpts: the documents do not fit the model's context)");
  }
  if (a.mode != assistant::AnswerMode::kExtractive && !a.in_context) {
    std::printf(a.said_not_found
                    ? "\nNot in the documents: they do not contain the answer to this question.\n"
                    : "\nNot in the documents: the text above is not supported by them (no page "
                      "it cites was in its context and most of its words are not from them); "
                      "treat it as a guess.\n");
  } else {
    std::printf("\n");
  }
  if (a.stopped) std::printf("(stopped)\n");
  if (a.mode != assistant::AnswerMode::kExtractive && !a.citations.empty()) {
    std::printf("Sources:\n");
    for (const auto& c : a.citations) {
      std::printf("  %s, page %d: \"%s\"\n", c.title.c_str(), c.page, c.quote.c_str());
    }
  }
  std::fflush(stdout);  // the answer before the stats line on stderr
  const auto& s = a.stats;
  if (a.mode != assistant::AnswerMode::kExtractive) {
    std::fprintf(stderr,
                 "prefix %lld tokens (reused %lld, computed %lld; cache %s), question %lld, "
                 "prefill %.1f ms, decode %lld tokens at %.1f tokens/s\n",
                 static_cast<long long>(s.prefix_tokens),
                 static_cast<long long>(s.prefix_tokens_reused),
                 static_cast<long long>(s.prefix_tokens_computed), s.cache.c_str(),
                 static_cast<long long>(s.question_tokens), s.prefill_ms,
                 static_cast<long long>(s.answer_tokens), s.decode_tokens_per_s);
  }
  if (json) std::printf("%s\n", assistant::AnswerJson(a).c_str());
  std::fflush(stdout);
}

// The assistant over the library and, with --model, the checkpoint.
struct Setup {
  std::unique_ptr<docstore::Library> library;
  std::unique_ptr<assistant::LoadedModel> model;
  std::unique_ptr<assistant::Assistant> assistant;
};

int MakeAssistant(Args& args, const AskArgs& a, Setup* s) {
  int code = kExitOk;
  s->library = OpenLibraryOrReport(args, &code);
  if (!s->library) return code;
  if (!a.model.empty()) {
    auto m = assistant::LoadedModel::Open(a.model, static_cast<int>(a.threads));
    if (!m.ok()) return Fail(m.status().message());
    s->model = std::move(*m);
  }
  assistant::AssistantOptions opt;
  opt.max_new_tokens = a.max_new;
  opt.context_tokens = a.context;
  auto as = assistant::Assistant::Create(*s->library, s->model.get(), opt);
  if (!as.ok()) return Fail(as.status().message());
  s->assistant = std::move(*as);
  return kExitOk;
}

void StreamPiece(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int RunAsk(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"json"});
  AskArgs a;
  std::string problem = ReadAskArgs(args, &a);
  if (problem.empty() && args.positionals().size() != 1) {
    problem = "give the question as one argument in quotes: folio-cli ask \"What changed?\"";
  }
  if (problem.empty()) problem = args.UnusedOptions();
  if (!problem.empty()) return Fail(problem);
  Setup s;
  if (int code = MakeAssistant(args, a, &s); code != kExitOk) return code;
  std::signal(SIGINT, OnInterrupt);
  auto answer = s.assistant->Ask(args.positionals()[0], a.docs, StreamPiece, &g_stop);
  if (!answer.ok()) return Fail(answer.status().message());
  PrintAnswerEnd(*answer, a.json);
  return kExitOk;
}

int RunDocChat(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"json"});
  AskArgs a;
  std::string problem = ReadAskArgs(args, &a);
  const int64_t reopen = args.GetInt("conversation", 0);
  if (problem.empty() && !args.positionals().empty()) {
    problem = "chat reads questions from stdin, one per line; no arguments";
  }
  if (problem.empty()) problem = args.UnusedOptions();
  if (!problem.empty()) return Fail(problem);
  Setup s;
  if (int code = MakeAssistant(args, a, &s); code != kExitOk) return code;
  int64_t conv = reopen;
  if (conv == 0) {
    auto c = s.assistant->StartConversation(a.docs, "chat");
    if (!c.ok()) return Fail(c.status().message());
    conv = *c;
  }
  std::fprintf(stderr,
               "conversation %lld (reopen with --conversation %lld); one question per "
               "line, end with Ctrl-D\n",
               static_cast<long long>(conv), static_cast<long long>(conv));
  std::signal(SIGINT, OnInterrupt);
  std::string line;
  while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    g_stop.store(false);
    auto answer = s.assistant->Chat(conv, line, StreamPiece, &g_stop);
    if (!answer.ok()) return Fail(answer.status().message());
    PrintAnswerEnd(*answer, a.json);
  }
  return kExitOk;
}

}  // namespace folio::cli
