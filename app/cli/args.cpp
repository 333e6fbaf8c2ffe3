#include "app/cli/args.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace folio::cli {

Args::Args(int argc, char** argv, int first, const std::set<std::string>& flags) {
  bool only_positionals = false;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positionals || a.size() < 3 || a.rfind("--", 0) != 0) {
      if (a == "--") {
        only_positionals = true;
        continue;
      }
      positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (!flags.count(name)) {
      if (i + 1 >= argc) {
        error_ = "option --" + name + " needs a value";
        continue;
      }
      value = argv[++i];
    }
    opts_.push_back({name, value, false});
  }
}

Args::Opt* Args::Find(const std::string& name) {
  Opt* found = nullptr;
  for (auto& o : opts_) {
    if (o.name == name) {
      o.used = true;
      found = &o;  // the last occurrence wins
    }
  }
  return found;
}

std::optional<std::string> Args::Get(const std::string& name) {
  Opt* o = Find(name);
  if (!o) return std::nullopt;
  if (!o->value) {
    error_ = "option --" + name + " needs a value";
    return std::nullopt;
  }
  return o->value;
}

std::string Args::GetOr(const std::string& name, const std::string& fallback) {
  auto v = Get(name);
  return v ? *v : fallback;
}

int64_t Args::GetInt(const std::string& name, int64_t fallback) {
  auto v = Get(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) {
    error_ = "option --" + name + " expects an integer, got '" + *v + "'";
    return fallback;
  }
  return out;
}

double Args::GetDouble(const std::string& name, double fallback) {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  double out = std::strtod(v->c_str(), &end);
  if (v->empty() || end != v->c_str() + v->size()) {
    error_ = "option --" + name + " expects a number, got '" + *v + "'";
    return fallback;
  }
  return out;
}

bool Args::Flag(const std::string& name) {
  Opt* o = Find(name);
  if (o && o->value && *o->value != "true" && *o->value != "1") return false;
  return o != nullptr;
}

std::string Args::UnusedOptions() const {
  std::string out;
  for (const auto& o : opts_) {
    if (!o.used) out += (out.empty() ? "unknown option --" : ", --") + o.name;
  }
  return out;
}

int Fail(const std::string& message) {
  std::string line;
  for (char c : message) line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  std::fprintf(stderr, "folio-cli: %s\n", line.c_str());
  return kExitBadInput;
}

int Fail(const Status& status) {
  Fail(status.message());
  return status.code() == ErrorCode::kInternal ? kExitPartial : kExitBadInput;
}

std::function<void(uint64_t, uint64_t)> GpuUploadProgress() {
  return [last = -1](uint64_t done, uint64_t total) mutable {
    const int pct = total ? static_cast<int>(100 * done / total) : 100;
    if (pct / 10 == last / 10) return;
    last = pct;
    std::fprintf(stderr, "\rfolio-cli: uploading weights to the GPU: %d%%%s", pct,
                 done == total ? "\n" : "");
  };
}

bool ParseIdList(const std::string& s, std::vector<int64_t>* out) {
  out->clear();
  size_t pos = 0;
  if (s.empty()) return false;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + comma, v);
    if (ec != std::errc() || p != s.data() + comma) return false;
    out->push_back(v);
    pos = comma + 1;
  }
  return true;
}

}  // namespace folio::cli
