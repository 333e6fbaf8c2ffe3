// folio-cli docs | remove | search | library-reset: the library from the command line.
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/library_cli.h"
#include "docstore/search.h"
#include "docstore/store.h"

namespace folio::cli {
namespace {

using nlohmann::json;

// One JSON object per line; titles from PDFs may hold invalid UTF-8, which is replaced.
void PrintJsonLine(const json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
}

// Checks options after the command has read all it knows; false (and a message) on a typo.
bool OptionsOk(const Args& args) {
  if (!args.error().empty()) {
    std::fprintf(stderr, "folio-cli: %s\n", args.error().c_str());
    return false;
  }
  if (const std::string unused = args.UnusedOptions(); !unused.empty()) {
    std::fprintf(stderr, "folio-cli: %s\n", unused.c_str());
    return false;
  }
  return true;
}

std::string JoinPositionals(const Args& args) {
  std::string s;
  for (const auto& p : args.positionals()) {
    if (!s.empty()) s += ' ';
    s += p;
  }
  return s;
}

// The snippet with its highlight spans in bold on a terminal, in [brackets] otherwise.
std::string MarkSpans(const docstore::SearchHit& hit, bool tty) {
  const char* open = tty ? "\x1b[1m" : "[";
  const char* close = tty ? "\x1b[0m" : "]";
  std::string out;
  size_t at = 0;
  for (const auto& s : hit.spans) {
    out.append(hit.snippet, at, static_cast<size_t>(s.begin) - at);
    out += open;
    out.append(hit.snippet, static_cast<size_t>(s.begin), static_cast<size_t>(s.end - s.begin));
    out += close;
    at = static_cast<size_t>(s.end);
  }
  out.append(hit.snippet, at, std::string::npos);
  return out;
}

}  // namespace

int RunDocs(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"json"});
  const bool as_json = args.Flag("json");
  int rc = kExitOk;
  auto lib = OpenLibraryOrReport(args, &rc);
  if (!lib) return rc;
  if (!OptionsOk(args)) return kExitBadInput;
  auto docs = lib->ListDocuments();
  if (!docs.ok()) {
    ReportError(docs.status());
    return kExitBadInput;
  }
  if (!as_json && docs->empty()) std::printf("the library at %s is empty\n", lib->path().c_str());
  for (const auto& d : *docs) {
    if (as_json) {
      PrintJsonLine({{"doc_id", d.id},
                     {"title", d.title},
                     {"path", d.path},
                     {"pages", d.pages},
                     {"status", d.status},
                     {"kind", docstore::DocumentKindName(d.kind)},
                     {"bytes", d.bytes},
                     {"error", d.error}});
    } else if (d.status == "ready") {
      std::printf("%6lld  %5d p.  %s\n        %s\n", static_cast<long long>(d.id), d.pages,
                  d.title.c_str(), d.path.c_str());
    } else {
      std::printf("%6lld  %-8s %s\n        %s\n", static_cast<long long>(d.id), d.status.c_str(),
                  d.path.c_str(), d.error.c_str());
    }
  }
  return kExitOk;
}

int RunRemove(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  int rc = kExitOk;
  auto lib = OpenLibraryOrReport(args, &rc);
  if (!lib) return rc;
  if (!OptionsOk(args)) return kExitBadInput;
  std::vector<int64_t> ids;
  if (args.positionals().size() != 1 || !ParseIdList(args.positionals()[0], &ids)) {
    std::fprintf(stderr, "folio-cli: remove expects a document id (see folio-cli docs)\n");
    return kExitBadInput;
  }
  for (int64_t id : ids) {
    if (Status s = lib->RemoveDocument(id); !s.ok()) {
      ReportError(s);
      return kExitBadInput;
    }
    std::printf("removed document %lld\n", static_cast<long long>(id));
  }
  return kExitOk;
}

int RunSearch(int argc, char** argv, int first) {
  Args args(argc, argv, first, {"json"});
  const bool as_json = args.Flag("json");
  docstore::SearchOptions opt;
  opt.limit = static_cast<int>(args.GetInt("limit", 10));
  const auto docs = args.Get("docs");
  int rc = kExitOk;
  auto lib = OpenLibraryOrReport(args, &rc);
  if (!lib) return rc;
  if (!OptionsOk(args)) return kExitBadInput;
  if (docs && !ParseIdList(*docs, &opt.doc_ids)) {
    std::fprintf(stderr, "folio-cli: --docs expects ids like 3,17,42, got '%s'\n", docs->c_str());
    return kExitBadInput;
  }
  const std::string query = JoinPositionals(args);
  if (query.empty() || opt.limit <= 0) {
    std::fprintf(stderr, "folio-cli: search expects a query and --limit N with N >= 1\n");
    return kExitBadInput;
  }
  auto hits = docstore::Search(*lib, query, opt);
  if (!hits.ok()) {
    ReportError(hits.status());
    return kExitBadInput;
  }
  const bool tty = isatty(STDOUT_FILENO) != 0;
  for (const auto& h : *hits) {
    if (as_json) {
      json spans = json::array();
      for (const auto& s : h.spans) spans.push_back({s.begin, s.end});
      PrintJsonLine({{"doc_id", h.doc_id},
                     {"title", h.title},
                     {"page", h.page},
                     {"score", h.score},
                     {"snippet", h.snippet},
                     {"spans", spans},
                     {"chunk_id", h.chunk_id},
                     {"exact_phrase", h.exact_phrase}});
    } else {
      std::printf("%s, p. %d  (doc %lld, score %.2f%s)\n    %s\n", h.title.c_str(), h.page,
                  static_cast<long long>(h.doc_id), h.score, h.exact_phrase ? ", phrase" : "",
                  MarkSpans(h, tty).c_str());
    }
  }
  if (!as_json && hits->empty()) std::printf("no passage matches '%s'\n", query.c_str());
  return kExitOk;
}

int RunLibraryReset(int argc, char** argv, int first) {
  Args args(argc, argv, first, {});
  auto path = docstore::ResolveLibraryPath(args.Get("library"));
  if (!OptionsOk(args)) return kExitBadInput;
  if (!path.ok()) {
    ReportError(path.status());
    return kExitBadInput;
  }
  auto lib = docstore::Library::Open(*path);
  if (lib.ok()) {
    std::printf("the library at %s opens fine; nothing was moved\n", path->c_str());
    return kExitOk;
  }
  if (lib.status().code() != ErrorCode::kCorrupt) {
    ReportError(lib.status());  // a newer schema or an I/O problem: moving it would not help
    return kExitBadInput;
  }
  auto moved = docstore::Library::MoveDamagedAside(*path);
  if (!moved.ok()) {
    ReportError(moved.status());
    return kExitBadInput;
  }
  auto fresh = docstore::Library::Open(*path);
  if (!fresh.ok()) {
    ReportError(fresh.status());
    return kExitBadInput;
  }
  std::printf("moved the damaged library to %s\nstarted a new library at %s\n", moved->c_str(),
              path->c_str());
  return kExitOk;
}

}  // namespace folio::cli
