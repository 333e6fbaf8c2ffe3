// Search latency over a synthetic library (prints figures, asserts nothing).
//
//   bench_search [--chunks 100000] [--queries 300] [--limit 10] [--library PATH] [--seed 1]
//
// Builds (or reuses, when PATH already holds a library) documents of 100 chunks of about
// 200 words drawn from a 30,000-word vocabulary with Zipf-like frequencies (s = 1.1), then
// times docstore::Search for query mixes: one common word, one rare word, a phrase taken
// from the text, and several loose words. Reports p50/p95/max per mix and overall.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "docstore/search.h"
#include "docstore/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using folio::docstore::ImportedDocument;

struct Options {
  int chunks = 100000;
  int queries = 300;
  int limit = 10;
  uint32_t seed = 1;
  std::string library;
};

// Pronounceable pseudo-words, distinct by construction (rank written in syllables).
std::string MakeWord(int rank) {
  static const char* kSyl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti",  "vo", "pe", "da",
                               "gu", "be", "zo", "fi", "ha", "jo", "qua", "wi", "xe", "yu"};
  std::string w;
  int r = rank + 20;
  while (r > 0) {
    w += kSyl[r % 20];
    r /= 20;
  }
  return w;
}

class ZipfVocabulary {
 public:
  ZipfVocabulary(int size, double s) {
    double sum = 0;
    for (int r = 1; r <= size; ++r) {
      sum += 1.0 / std::pow(r, s);
      cdf_.push_back(sum);
      words_.push_back(MakeWord(r));
    }
    for (double& c : cdf_) c /= sum;
  }
  int SampleRank(std::mt19937& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<int>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }
  const std::string& Word(int rank) const { return words_[static_cast<size_t>(rank)]; }
  const std::string& Sample(std::mt19937& rng) const { return Word(SampleRank(rng)); }
  int size() const { return static_cast<int>(words_.size()); }

 private:
  std::vector<double> cdf_;
  std::vector<std::string> words_;
};

std::string Sentence(const ZipfVocabulary& v, std::mt19937& rng, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) {
    if (i) s += (i % 15 == 0) ? ". " : " ";
    s += v.Sample(rng);
  }
  return s + ".";
}

// 10 pages of ~2,000 bytes; chunks of ~1,200 bytes laid over them with exact ranges.
ImportedDocument MakeDocument(const ZipfVocabulary& v, std::mt19937& rng, int index, int n_chunks) {
  ImportedDocument doc;
  doc.path = "/bench/doc" + std::to_string(index) + ".txt";
  doc.title = "Synthetic document " + std::to_string(index);
  doc.content_hash = "bench-" + std::to_string(index);
  std::string joined;
  std::vector<size_t> page_begin;
  const int n_pages = std::max(1, n_chunks / 10);
  const int words_per_page = n_chunks * 200 / n_pages;
  for (int p = 1; p <= n_pages; ++p) {
    if (p > 1) joined += folio::docstore::kPageSeparator;
    page_begin.push_back(joined.size());
    doc.pages.push_back({p, Sentence(v, rng, words_per_page)});
    joined += doc.pages.back().text;
  }
  auto page_of = [&](size_t off) {
    return static_cast<int>(std::upper_bound(page_begin.begin(), page_begin.end(), off) -
                            page_begin.begin());
  };
  const size_t step = joined.size() / static_cast<size_t>(n_chunks) + 1;
  for (size_t b = 0, i = 0; b < joined.size(); b += step, ++i) {
    folio::docstore::Chunk c;
    c.ordinal = static_cast<int>(i);
    c.char_begin = static_cast<int64_t>(b);
    c.char_end = static_cast<int64_t>(std::min(joined.size(), b + step));
    c.text = joined.substr(b, static_cast<size_t>(c.char_end) - b);
    c.first_page = page_of(b);
    c.last_page = page_of(static_cast<size_t>(c.char_end) - 1);
    doc.chunks.push_back(std::move(c));
  }
  doc.bytes = static_cast<int64_t>(joined.size());
  return doc;
}

bool Fill(folio::docstore::Library& lib, const ZipfVocabulary& v, const Options& o) {
  std::mt19937 rng(o.seed);
  const int per_doc = 100;
  const auto t0 = Clock::now();
  for (int d = 0; d * per_doc < o.chunks; ++d) {
    auto r = lib.StoreDocument(MakeDocument(v, rng, d, std::min(per_doc, o.chunks - d * per_doc)));
    if (!r.ok()) {
      std::fprintf(stderr, "bench_search: %s\n", r.status().message().c_str());
      return false;
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("built %d chunks in %.1f s (%.0f chunks/s, FTS index included)\n", o.chunks, s,
              o.chunks / s);
  return true;
}

struct Mix {
  const char* name = "";
  std::vector<std::string> queries;
  std::vector<double> ms;      // wall clock
  std::vector<double> cpu_ms;  // this thread's CPU time: what an idle machine would see
};

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Three consecutive words of a random stored chunk: a phrase that occurs at least once.
std::string PhraseFromLibrary(folio::docstore::Library& lib, int64_t n_docs, std::mt19937& rng) {
  const int64_t doc = std::uniform_int_distribution<int64_t>(1, n_docs)(rng);
  auto chunks = lib.GetChunks(doc);
  if (!chunks.ok() || chunks->empty()) return "kalo mine";
  const std::string& text =
      (*chunks)[std::uniform_int_distribution<size_t>(0, chunks->size() - 1)(rng)].chunk.text;
  std::vector<std::string> words;
  std::string cur;
  for (char c : text + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      cur += c;
    } else if (!cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (words.size() < 5) return "kalo mine";
  const size_t at = std::uniform_int_distribution<size_t>(1, words.size() - 4)(rng);
  return words[at] + " " + words[at + 1] + " " + words[at + 2];
}

std::vector<Mix> MakeMixes(folio::docstore::Library& lib, int64_t n_docs, const ZipfVocabulary& v,
                           const Options& o) {
  std::mt19937 rng(o.seed + 99);
  std::vector<Mix> mixes(4);
  mixes[0].name = "1 common word";
  mixes[1].name = "1 rare word";
  mixes[2].name = "phrase in the text";
  mixes[3].name = "4 Zipf words";
  std::uniform_int_distribution<int> common(0, 49), rare(5000, v.size() - 1);
  for (int i = 0; i < o.queries / 4; ++i) {
    mixes[0].queries.push_back(v.Word(common(rng)));
    mixes[1].queries.push_back(v.Word(rare(rng)));
    mixes[2].queries.push_back(PhraseFromLibrary(lib, n_docs, rng));
    std::string loose;
    for (int w = 0; w < 4; ++w) loose += v.Sample(rng) + " ";
    mixes[3].queries.push_back(loose);
  }
  return mixes;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--chunks")
      o.chunks = std::atoi(argv[i + 1]);
    else if (k == "--queries")
      o.queries = std::atoi(argv[i + 1]);
    else if (k == "--limit")
      o.limit = std::atoi(argv[i + 1]);
    else if (k == "--seed")
      o.seed = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    else if (k == "--library")
      o.library = argv[i + 1];
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  const bool temporary = o.library.empty();
  if (temporary) {
    o.library = (std::filesystem::temp_directory_path() /
                 ("folio-bench-search-" + std::to_string(::getpid()) + ".sqlite"))
                    .string();
  }
  const ZipfVocabulary vocab(30000, 1.1);
  auto lib = folio::docstore::Library::Open(o.library);
  if (!lib.ok()) {
    std::fprintf(stderr, "bench_search: %s\n", lib.status().message().c_str());
    return 2;
  }
  auto docs = (*lib)->ListDocuments();
  if (docs.ok() && docs->empty() && !Fill(**lib, vocab, o)) return 1;
  docs = (*lib)->ListDocuments();
  const auto n_docs = static_cast<int64_t>(docs.ok() ? docs->size() : 0);
  std::vector<Mix> mixes = MakeMixes(**lib, n_docs, vocab, o);
  folio::docstore::SearchOptions so;
  so.limit = o.limit;
  std::vector<double> all, all_cpu;
  size_t total_hits = 0;
  std::printf("%-22s %-6s %-29s %s\n", "query mix", "n", "wall p50 / p95 / max (ms)",
              "cpu p50 / p95 (ms)");
  for (Mix& m : mixes) {
    for (const std::string& q : m.queries) {
      const auto t0 = Clock::now();
      const double c0 = ThreadCpuMs();
      auto hits = folio::docstore::Search(**lib, q, so);
      m.cpu_ms.push_back(ThreadCpuMs() - c0);
      m.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!hits.ok()) {
        std::fprintf(stderr, "bench_search: '%s': %s\n", q.c_str(),
                     hits.status().message().c_str());
        return 1;
      }
      total_hits += hits->size();
    }
    all.insert(all.end(), m.ms.begin(), m.ms.end());
    all_cpu.insert(all_cpu.end(), m.cpu_ms.begin(), m.cpu_ms.end());
    std::printf("%-22s %-6zu %7.2f / %7.2f / %7.2f     %7.2f / %7.2f\n", m.name, m.ms.size(),
                Percentile(m.ms, 0.5), Percentile(m.ms, 0.95), Percentile(m.ms, 1.0),
                Percentile(m.cpu_ms, 0.5), Percentile(m.cpu_ms, 0.95));
  }
  std::printf("%-22s %-6zu %7.2f / %7.2f / %7.2f     %7.2f / %7.2f\n", "all", all.size(),
              Percentile(all, 0.5), Percentile(all, 0.95), Percentile(all, 1.0),
              Percentile(all_cpu, 0.5), Percentile(all_cpu, 0.95));
  if (std::getenv("BENCH_SEARCH_SLOWEST")) {
    for (const Mix& m : mixes) {
      size_t worst = 0;
      for (size_t i = 0; i < m.cpu_ms.size(); ++i)
        worst = m.cpu_ms[i] > m.cpu_ms[worst] ? i : worst;
      std::printf("slowest %s: '%s' %.2f ms cpu\n", m.name, m.queries[worst].c_str(),
                  m.cpu_ms[worst]);
    }
  }
  std::printf("(limit %d, %.1f hits per query)\n", o.limit,
              static_cast<double>(total_hits) / static_cast<double>(all.size()));
  lib->reset();
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(o.library + suffix);
  }
  return 0;
}
