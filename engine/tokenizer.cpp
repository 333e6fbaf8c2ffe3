// Tokenizer: sentencepiece for text, JSON side files for special tokens. See tokenizer.h.
#include "engine/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/sp_model_proto.h"

namespace folio {
namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";         // U+2581, sentencepiece's space
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";       // U+FFFD
constexpr std::string_view kUnknownSurface = " \xE2\x81\x87 ";  // sentencepiece's " ⁇ "

// Reads a whole file; NotFound/IoError name it. `optional` files that are absent give "".
Result<std::string> ReadFile(const std::string& path, bool optional) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (optional) return std::string();
    return NotFound(path + ": not found (a checkpoint folder needs tokenizer.model)");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError(path + ": could not be read");
  return ss.str();
}

// A special-token entry is a string, an AddedToken object {"content": ...}, or null.
std::string TokenContent(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

Result<nlohmann::json> ParseJsonObject(const std::string& text, const std::string& name) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(name + ": not a JSON object");
  return j;
}

// Classifies the UTF-8 sequence at the front of `s`: its length when complete and valid,
// 0 when it is a valid but incomplete prefix, -1 when the first byte can never start one.
// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as sentencepiece.
int Utf8Front(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  int need;
  uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < need; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;
    const uint8_t lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
    if (b(i) < lo_i || b(i) > hi_i) return -1;
  }
  return need;
}

// True when every piece keeps its "▁" in one leading run ("▁the", "▁▁▁", never "a▁b"):
// then no piece spans "x▁" with x not a space, and text cut just before such a space
// encodes to the same ids piece by piece as whole (sentencepiece's BPE is slow on long
// lines: about 60 KB/s on one 400 KB line).
bool WordStartsOnlyLead(const sentencepiece::SentencePieceProcessor& sp) {
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    if (sp.IsByte(id) || sp.IsControl(id) || sp.IsUnknown(id)) continue;
    std::string_view p = sp.IdToPiece(id);
    if (p.find(' ') != std::string_view::npos) return false;
    while (p.substr(0, kWordStart.size()) == kWordStart) p.remove_prefix(kWordStart.size());
    if (p.find(kWordStart) != std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

size_t ValidUtf8PrefixLength(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const int n = Utf8Front(s.substr(i));
    if (n <= 0) break;
    i += static_cast<size_t>(n);
  }
  return i;
}

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& dir) {
  FOLIO_ASSIGN_OR_RETURN(std::string model, ReadFile(dir + "/tokenizer.model", false));
  FOLIO_ASSIGN_OR_RETURN(std::string config, ReadFile(dir + "/tokenizer_config.json", true));
  FOLIO_ASSIGN_OR_RETURN(std::string map, ReadFile(dir + "/special_tokens_map.json", true));
  FOLIO_ASSIGN_OR_RETURN(std::string added, ReadFile(dir + "/added_tokens.json", true));
  FOLIO_ASSIGN_OR_RETURN(auto tok, FromParts(model, config, map, added, dir + "/tokenizer.model"));
  if (tok->chat_template_.empty()) {
    // Newer checkpoints keep the template in its own file.
    FOLIO_ASSIGN_OR_RETURN(tok->chat_template_, ReadFile(dir + "/chat_template.jinja", true));
  }
  return tok;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromParts(const std::string& model_bytes,
                                                        const std::string& tokenizer_config_json,
                                                        const std::string& special_tokens_map_json,
                                                        const std::string& added_tokens_json,
                                                        const std::string& display_name) {
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  FOLIO_RETURN_IF_ERROR(tok->Init(model_bytes, tokenizer_config_json, special_tokens_map_json,
                                  added_tokens_json, display_name));
  return tok;
}

Status Tokenizer::Init(const std::string& model_bytes, const std::string& tokenizer_config_json,
                       const std::string& special_tokens_map_json,
                       const std::string& added_tokens_json, const std::string& display_name) {
  // The wire-level check catches what protobuf would accept silently: a file cut at a
  // message boundary parses as a model with fewer pieces and no normalizer.
  FOLIO_ASSIGN_OR_RETURN(SpModelSummary summary, InspectSpModel(model_bytes, display_name));
  adds_dummy_prefix_ = summary.add_dummy_prefix;
  strips_leading_space_ = summary.add_dummy_prefix || summary.remove_extra_whitespaces;

  sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto st = sp_->LoadFromSerializedProto(model_bytes);
  if (!st.ok()) {
    return Corrupt(display_name + ": not a usable sentencepiece model (" + st.ToString() +
                   "); the file may be damaged or incomplete, download it again");
  }
  FOLIO_ASSIGN_OR_RETURN(std::string no_prefix,
                         SpModelWithoutDummyPrefix(model_bytes, display_name));
  sp_no_prefix_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  st = sp_no_prefix_->LoadFromSerializedProto(no_prefix);
  if (!st.ok()) return Internal(display_name + ": re-encoding the model failed: " + st.ToString());

  sp_vocab_size_ = sp_->GetPieceSize();
  if (sp_vocab_size_ <= 0) return Corrupt(display_name + ": the model has no pieces");
  word_split_safe_ =
      summary.identity_normalizer && !summary.remove_extra_whitespaces && WordStartsOnlyLead(*sp_);
  vocab_size_ = sp_vocab_size_;
  bos_id_ = sp_->bos_id();
  eos_id_ = sp_->eos_id();
  pad_id_ = sp_->pad_id();
  if (bos_id_ >= 0) bos_token_ = sp_->IdToPiece(bos_id_);
  if (eos_id_ >= 0) eos_token_ = sp_->IdToPiece(eos_id_);
  FOLIO_RETURN_IF_ERROR(ReadSpecialTokens(tokenizer_config_json, special_tokens_map_json,
                                          added_tokens_json, display_name));
  pieces_.reserve(static_cast<size_t>(vocab_size_));
  for (int64_t id = 0; id < vocab_size_; ++id) pieces_.push_back(PieceOf(id, false));
  return Status::Ok();
}

void Tokenizer::AddToken(int64_t id, const std::string& content, bool special) {
  if (content.empty() || id < 0) return;
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) {
    added_[it->second].special = added_[it->second].special || special;
    return;
  }
  added_by_id_[id] = added_.size();
  added_.push_back({id, content, special});
  added_by_text_[content] = id;
  vocab_size_ = std::max(vocab_size_, id + 1);
}

int64_t Tokenizer::ResolveToken(const std::string& content) const {
  if (content.empty()) return -1;
  auto it = added_by_text_.find(content);
  if (it != added_by_text_.end()) return it->second;
  const int id = sp_->PieceToId(content);
  if (id == sp_->unk_id() && content != sp_->IdToPiece(id)) return -1;
  return id;
}

Status Tokenizer::ReadSpecialTokens(const std::string& tokenizer_config_json,
                                    const std::string& special_tokens_map_json,
                                    const std::string& added_tokens_json,
                                    const std::string& display_name) {
  const std::string dir_name = display_name.substr(0, display_name.rfind('/') + 1);
  FOLIO_ASSIGN_OR_RETURN(nlohmann::json cfg, ParseJsonObject(tokenizer_config_json,
                                                             dir_name + "tokenizer_config.json"));
  FOLIO_ASSIGN_OR_RETURN(nlohmann::json map, ParseJsonObject(special_tokens_map_json,
                                                             dir_name + "special_tokens_map.json"));
  FOLIO_ASSIGN_OR_RETURN(nlohmann::json added,
                         ParseJsonObject(added_tokens_json, dir_name + "added_tokens.json"));

  // Explicit ids first: added_tokens_decoder {"518": {"content": "<|bom|>", "special": true}}.
  if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
    for (const auto& [key, v] : cfg["added_tokens_decoder"].items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (end == key.c_str() || *end != '\0' || id < 0 || id > (1 << 24)) {
        return Corrupt(dir_name + "tokenizer_config.json: added_tokens_decoder key '" + key +
                       "' is not a token id");
      }
      const bool special = v.is_object() && v.value("special", true);
      AddToken(static_cast<int64_t>(id), TokenContent(v), special);
    }
  }
  for (const auto& [content, v] : added.items()) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (1 << 24))
      return Corrupt(dir_name + "added_tokens.json: id of '" + content + "' is not a token id");
    AddToken(static_cast<int64_t>(v.get<int64_t>()), content, true);
  }
  // Named special tokens and additional_special_tokens, from either file: those that the
  // sentencepiece model spells as a piece become splittable added tokens too.
  for (const nlohmann::json* src : {&map, &cfg}) {
    if (src->contains("additional_special_tokens") &&
        (*src)["additional_special_tokens"].is_array())
      for (const auto& v : (*src)["additional_special_tokens"]) {
        const std::string c = TokenContent(v);
        const int64_t id = ResolveToken(c);
        if (id >= 0) AddToken(id, c, true);
      }
    for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
      if (!src->contains(key)) continue;
      const std::string c = TokenContent((*src)[key]);
      if (c.empty()) continue;
      const int64_t id = ResolveToken(c);
      if (id < 0) {
        return Corrupt(dir_name + "tokenizer files name " + key + " '" + c +
                       "', which is not in the vocabulary");
      }
      AddToken(id, c, true);
      if (std::string_view(key) == "bos_token") bos_id_ = id, bos_token_ = c;
      if (std::string_view(key) == "eos_token") eos_id_ = id, eos_token_ = c;
      if (std::string_view(key) == "pad_token") pad_id_ = id;
    }
  }
  // chat_template: a string, or a list of {"name", "template"} (use "default").
  if (cfg.contains("chat_template")) {
    const auto& t = cfg["chat_template"];
    if (t.is_string()) {
      chat_template_ = t.get<std::string>();
    } else if (t.is_array()) {
      for (const auto& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
            e["template"].is_string())
          chat_template_ = e["template"].get<std::string>();
    }
  }
  return Status::Ok();
}

int64_t Tokenizer::TokenId(std::string_view text) const {
  return ResolveToken(std::string(text));
}

std::string Tokenizer::PieceText(int64_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].content;
  if (id >= sp_vocab_size_) return {};
  return sp_->IdToPiece(id);
}

bool Tokenizer::IsSpecial(int64_t id) const {
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].special;
  return id >= 0 && id < sp_vocab_size_ && sp_->IsControl(id);
}

// Where text may be cut at or after `from` without changing the ids: before a space that
// follows a non-space (see WordStartsOnlyLead); text.size() when there is none.
size_t Tokenizer::SafeCut(std::string_view text, size_t from) const {
  for (size_t i = std::max<size_t>(from, 1); i < text.size(); ++i)
    if (text[i] == ' ' && text[i - 1] != ' ') return i;
  return text.size();
}

Status Tokenizer::EncodeRun(std::string_view text, bool at_start, std::vector<int64_t>* out) const {
  constexpr size_t kPiece = 256;  // bytes per sentencepiece call, at least
  std::vector<int> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = word_split_safe_ && text.size() - pos > 2 * kPiece
                           ? SafeCut(text, pos + kPiece)
                           : text.size();
    const bool first = at_start && pos == 0;
    const auto& sp = (first || !adds_dummy_prefix_) ? *sp_ : *sp_no_prefix_;
    auto st = sp.Encode(text.substr(pos, end - pos), &ids);
    if (!st.ok()) return Internal("sentencepiece could not encode the text: " + st.ToString());
    out->insert(out->end(), ids.begin(), ids.end());
    pos = end;
  }
  return Status::Ok();
}

Status Tokenizer::EncodeSegment(std::string_view text, bool at_start,
                                std::vector<int64_t>* out) const {
  // A long document is cut at safe points into one part per core, encoded in parallel
  // (sentencepiece's Encode is const and thread-safe).
  constexpr size_t kPerThread = 64 << 10;
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts = std::min(cores, text.size() / kPerThread);
  if (!word_split_safe_ || parts < 2) return EncodeRun(text, at_start, out);
  std::vector<size_t> cuts = {0};
  for (size_t k = 1; k < parts; ++k) {
    const size_t c = SafeCut(text, std::max(cuts.back() + 1, text.size() * k / parts));
    if (c < text.size()) cuts.push_back(c);
  }
  cuts.push_back(text.size());
  std::vector<std::vector<int64_t>> results(cuts.size() - 1);
  std::vector<Status> status(cuts.size() - 1);
  std::vector<std::thread> threads;
  for (size_t k = 0; k + 1 < cuts.size(); ++k)
    threads.emplace_back([&, k] {
      status[k] =
          EncodeRun(text.substr(cuts[k], cuts[k + 1] - cuts[k]), at_start && k == 0, &results[k]);
    });
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < results.size(); ++k) {
    FOLIO_RETURN_IF_ERROR(status[k]);
    out->insert(out->end(), results[k].begin(), results[k].end());
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> Tokenizer::Encode(std::string_view text, bool add_bos,
                                               SpecialText special) const {
  std::vector<int64_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  if (special == SpecialText::kPlain || added_.empty()) {
    FOLIO_RETURN_IF_ERROR(EncodeSegment(text, true, &out));
    return out;
  }
  // Split on added-token strings, longest match first at each position. Only bytes that
  // start some added token are looked at closely (documents are long, tokens few).
  bool starts[256] = {};
  for (const auto& t : added_) starts[static_cast<uint8_t>(t.content[0])] = true;
  size_t seg_begin = 0, i = 0;
  while (i < text.size()) {
    const AddedToken* best = nullptr;
    if (starts[static_cast<uint8_t>(text[i])]) {
      for (const auto& t : added_) {
        if (t.content.size() > text.size() - i ||
            (best && t.content.size() <= best->content.size()))
          continue;
        if (text.compare(i, t.content.size(), t.content) == 0) best = &t;
      }
    }
    if (!best) {
      ++i;
      continue;
    }
    FOLIO_RETURN_IF_ERROR(
        EncodeSegment(text.substr(seg_begin, i - seg_begin), seg_begin == 0, &out));
    out.push_back(best->id);
    i += best->content.size();
    seg_begin = i;
  }
  FOLIO_RETURN_IF_ERROR(EncodeSegment(text.substr(seg_begin), seg_begin == 0, &out));
  return out;
}

Tokenizer::Piece Tokenizer::PieceOf(int64_t id, bool at_start) const {
  Piece p;
  auto it = added_by_id_.find(id);
  if (id >= sp_vocab_size_) {
    if (it != added_by_id_.end()) p.surface = added_[it->second].content;
    return p;
  }
  if (sp_->IsControl(id)) {
    p.is_control = true;
    return p;
  }
  if (sp_->IsUnknown(id)) {
    p.surface = kUnknownSurface;
    return p;
  }
  const std::string& piece = sp_->IdToPiece(id);
  if (sp_->IsByte(id)) {  // "<0xNN>"
    p.is_byte = true;
    p.byte = static_cast<uint8_t>(std::strtoul(piece.c_str() + 3, nullptr, 16));
    return p;
  }
  std::string_view rest = piece;
  if (at_start && strips_leading_space_ && rest.substr(0, kWordStart.size()) == kWordStart)
    rest.remove_prefix(kWordStart.size());
  for (size_t k = 0; k < rest.size();) {
    if (rest.substr(k, kWordStart.size()) == kWordStart) {
      p.surface += ' ';
      k += kWordStart.size();
    } else {
      p.surface += rest[k++];
    }
  }
  return p;
}

Result<std::string> Tokenizer::Decode(const std::vector<int64_t>& ids) const {
  IncrementalDetokenizer d(*this);
  std::string text;
  for (int64_t id : ids) {
    FOLIO_ASSIGN_OR_RETURN(std::string piece, d.Push(id));
    text += piece;
  }
  text += d.Finish();
  return text;
}

// ---- IncrementalDetokenizer ----------------------------------------------------------

std::string IncrementalDetokenizer::DrainBytes(bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int n = Utf8Front(std::string_view(pending_).substr(i));
    if (n > 0) {
      out.append(pending_, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else if (n < 0 || final) {
      out += kReplacement;  // one U+FFFD per byte that cannot start a character
      ++i;
    } else {
      break;  // a character still waiting for its last bytes
    }
  }
  pending_.erase(0, i);
  return out;
}

Result<std::string> IncrementalDetokenizer::Push(int64_t id) {
  if (id < 0 || id >= tok_->vocab_size()) {
    return InvalidArgument("token id " + std::to_string(id) +
                           " is out of range (the vocabulary has " +
                           std::to_string(tok_->vocab_size()) + " ids)");
  }
  const Tokenizer::Piece uncached = at_start_ ? tok_->PieceOf(id, true) : Tokenizer::Piece();
  const Tokenizer::Piece& p = at_start_ ? uncached : tok_->CachedPiece(id);
  if (p.is_byte) {
    pending_ += static_cast<char>(p.byte);
    at_start_ = false;
    return DrainBytes(false);
  }
  std::string out = DrainBytes(true);
  out += p.surface;
  // As sentencepiece: the first non-control piece ends the start, even a bare "▁".
  if (!p.is_control) at_start_ = false;
  return out;
}

std::string IncrementalDetokenizer::Finish() {
  return DrainBytes(true);
}

void IncrementalDetokenizer::Reset() {
  at_start_ = true;
  pending_.clear();
}

}  // namespace folio
