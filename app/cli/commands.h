// The folio-cli commands. Each returns an exit code (see args.h) and prints errors as one
// line on stderr. `argv[first]` is the first argument after the command name.
#pragma once

namespace folio::cli {

struct Command {
  const char* name;
  const char* usage;    // one line: arguments
  const char* summary;  // one line: what it does
  int (*run)(int argc, char** argv, int first);
};

// Declared here, defined in cmd_*.cpp; listed in main.cpp.
// (each team adds its commands' declarations below and a row in main.cpp's table)

// cmd_library.cpp: the document library.
int RunDocs(int argc, char** argv, int first);
int RunRemove(int argc, char** argv, int first);
int RunSearch(int argc, char** argv, int first);
int RunLibraryReset(int argc, char** argv, int first);

// cmd_ingest.cpp: importing files into the library.
int RunIngest(int argc, char** argv, int first);

// cmd_engine.cpp: the engine on raw token ids.
int RunLogits(int argc, char** argv, int first);
int RunGenerate(int argc, char** argv, int first);
int RunBench(int argc, char** argv, int first);

// cmd_text.cpp: the engine on text (tokenizer, chat template, streaming), the tiny model.
int RunTokenize(int argc, char** argv, int first);
int RunDetokenize(int argc, char** argv, int first);
int RunGeneratePrompt(int argc, char** argv, int first);  // generate --prompt (from RunGenerate)
int RunChat(int argc, char** argv, int first);
int RunMakeTinyModel(int argc, char** argv, int first);

// cmd_info.cpp: what a checkpoint is and what it needs.
int RunInfo(int argc, char** argv, int first);

// cmd_ask.cpp: the assistant over the library's documents.
int RunAsk(int argc, char** argv, int first);
int RunDocChat(int argc, char** argv, int first);

// cmd_embed.cpp: chunk embeddings and hybrid (BM25 + dense) search.
int RunEmbed(int argc, char** argv, int first);
int RunSemanticSearch(int argc, char** argv, int first);
int RunEmbedEval(int argc, char** argv, int first);

}  // namespace folio::cli
