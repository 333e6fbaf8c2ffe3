// folio-cli: the command-line face of Folio. One table of commands; each lives in cmd_*.cpp.
#include <cstdio>
#include <cstring>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/version.h"

namespace folio::cli {

#ifdef FOLIO_ENGINE_ONLY
// chat --docs (cmd_text.cpp) hands over to the assistant, which this build leaves out.
int RunDocChat(int, char**, int) {
  std::fprintf(stderr, "folio-cli: chat --docs needs the document library, which this "
                       "engine-only build (FOLIO_ENGINE_ONLY) leaves out\n");
  return kExitBadInput;
}
#endif

namespace {

int RunVersion(int, char**, int) {
  std::printf("folio-cli %s\n", kFolioVersion);
  return kExitOk;
}

const Command kCommands[] = {
    // {name, usage, summary, run}
    {"version", "folio-cli version", "print the version", RunVersion},
    {"info", "folio-cli info --model DIR",
     "check a checkpoint; print its layer plan, parameter count and memory needs", RunInfo},
    {"logits", "folio-cli logits --model DIR --tokens 5,17,301 --out FILE.npy [--device cpu|cuda|auto]",
     "write float32 [T, vocab] logits of every position as .npy", RunLogits},
    {"generate",
     "folio-cli generate --model DIR --tokens 5,17,301 --max-new N [--greedy | --temperature X "
     "--top-p P --top-k K --seed S] [--repetition-penalty R] [--stop-at-eos] [--device cpu|cuda|auto] "
     "[--threads N]",
     "continue token ids; prints the new ids on one line", RunGenerate},
    {"generate --prompt",
     "folio-cli generate --model DIR --prompt \"text\" [--chat [--system S]] [--max-new N] "
     "[--greedy | --temperature X --top-p P --top-k K --seed S] [--stats] [--device cpu|cuda|auto]",
     "continue text (or answer it as a chat turn with --chat), streamed to stdout", RunGenerate},
    {"tokenize", "folio-cli tokenize --model DIR \"text\" [--bos] [--plain] [--pieces]",
     "print the token ids of a text (--pieces: the pieces)", RunTokenize},
    {"detokenize", "folio-cli detokenize --model DIR 1 2 3", "print the text of token ids",
     RunDetokenize},
    {"chat", "folio-cli chat --model DIR [--system S] [--max-new N] [--greedy] [--stats] | "
             "folio-cli chat --docs ID,... --model DIR [--conversation ID] [--json] [--library PATH]",
     "talk to a model; /reset, /quit; Ctrl-C stops an answer", RunChat},
    {"make-tiny-model", "folio-cli make-tiny-model --out DIR [--seed N]",
     "write a tiny random Jamba checkpoint with a real tokenizer, for tests (output is gibberish)",
     RunMakeTinyModel},
    {"bench",
     "folio-cli bench (--model DIR | --synthetic jamba-1.5-mini|jamba-tiny) [--device cpu|cuda|auto] "
     "[--context N,N,...] [--new-tokens M] [--chunk C] [--repeat R] [--profile] [--experts-int8] "
     "[--memory-limit 80G] [--no-cuda-graphs] [--plan-only] [--seed S] [--threads N] [--json]",
     "prefill tokens/s and decode ms/token at each context, beside the hardware floor", RunBench},
#ifndef FOLIO_ENGINE_ONLY  // the engine-only build (GPU machine) has no library or assistant
    {"ingest", "folio-cli ingest FILE|DIR... [--password PW] [--library PATH]",
     "import PDFs, .txt and .md files (folders are searched) into the library", RunIngest},
    {"docs", "folio-cli docs [--json] [--library PATH]", "list the library's documents", RunDocs},
    {"remove", "folio-cli remove ID [--library PATH]", "remove a document from the library",
     RunRemove},
    {"search", "folio-cli search \"QUERY\" [--limit N] [--docs ID,...] [--json] [--library PATH]",
     "find passages by their words (exact phrase first)", RunSearch},
    {"ask",
     "folio-cli ask \"QUESTION\" [--docs ID,...] [--model DIR] [--max-new N] [--context N] "
     "[--json] [--library PATH]",
     "answer from the documents with page citations (quotes only without --model)", RunAsk},
    {"library-reset", "folio-cli library-reset [--library PATH]",
     "move a damaged library aside (kept as .damaged-TIME) and start a new one", RunLibraryReset},
    {"embed", "folio-cli embed --model DIR [--layer N] [--library PATH]",
     "compute chunk embeddings for semantic search (resumable; Ctrl-C stops)", RunEmbed},
    {"semantic-search",
     "folio-cli semantic-search \"QUERY\" [--model DIR] [--limit N] [--docs ID,...] [--json] "
     "[--library PATH]",
     "find passages by words and meaning (BM25 + embeddings, RRF); words only without a model",
     RunSemanticSearch},
    {"embed-eval", "folio-cli embed-eval --model DIR [--data FILE]",
     "dense recall@1/@3 and MRR of every layer on a labelled set (picks the embedding layer)",
     RunEmbedEval},
#endif
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "folio-cli %s: Folio's command line\n\nusage: folio-cli COMMAND [options]\n\n",
               kFolioVersion);
  for (const auto& c : kCommands) std::fprintf(out, "  %-16s %s\n      %s\n", c.name, c.summary, c.usage);
  std::fprintf(out, "\n  --version        print the version\n  --help           this text\n");
}

}  // namespace
}  // namespace folio::cli

int main(int argc, char** argv) {
  using namespace folio::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitBadInput : kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("folio-cli %s\n", folio::kFolioVersion);
    return kExitOk;
  }
  for (const auto& c : kCommands) {
    if (!std::strcmp(argv[1], c.name)) return c.run(argc, argv, 2);
  }
  std::fprintf(stderr, "folio-cli: unknown command '%s' (try folio-cli --help)\n", argv[1]);
  return kExitBadInput;
}
