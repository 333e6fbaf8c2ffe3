// Text <-> token ids for a checkpoint folder: tokenizer.model (sentencepiece, BPE with byte
// fallback for Jamba) plus the special tokens of tokenizer_config.json,
// special_tokens_map.json and added_tokens.json (bos, eos, pad, the chat-turn tokens of
// Jamba-1.5-style checkpoints: <|bom|>, <|eom|>, <|system|>, <|user|>, <|assistant|>, ...).
//
// Special-token strings in text. Encode(text, add_bos, kParse) does what Hugging Face does
// for a rendered chat prompt: it first splits the text on the special/added token strings
// (longest match wins), maps each to its single id, and encodes the text between them with
// sentencepiece. Only a segment that starts the text gets sentencepiece's dummy "▁" prefix
// (Hugging Face's Metaspace prepend_scheme "first"); a segment after a special token is
// encoded without it, which is why the Jamba template writes "<|user|> Hello" with an
// explicit space. kPlain leaves such strings as ordinary text (document content, so a
// document that contains "<|eom|>" cannot forge a turn); user_defined_symbols inside the
// sentencepiece model are still single pieces there, as in spm_encode.
//
// Decode renders ids as sentencepiece's DecodeIds does (byte-fallback pieces joined into
// UTF-8, invalid bytes as U+FFFD, "▁" as a space, the very first leading "▁" dropped when
// the model adds a dummy prefix, control tokens as nothing); added tokens outside the
// sentencepiece vocabulary render as their text.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace folio {

// A token the checkpoint declares beyond plain text: from added_tokens_decoder,
// added_tokens.json, or a special-token entry (bos_token, additional_special_tokens, ...).
struct AddedToken {
  int64_t id = -1;
  std::string content;  // e.g. "<|eom|>"
  bool special = true;  // Hugging Face's "special" flag
};

class Tokenizer {
 public:
  // Loads DIR/tokenizer.model and the JSON files next to it (each optional).
  // A missing, random or truncated tokenizer.model is an error naming the file.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& dir);
  // Loads from the bytes of a tokenizer.model and the texts of the JSON files (empty
  // string = absent). `display_name` is used in messages. Pure: for tests and fuzzing.
  static Result<std::unique_ptr<Tokenizer>> FromParts(const std::string& model_bytes,
                                                      const std::string& tokenizer_config_json,
                                                      const std::string& special_tokens_map_json,
                                                      const std::string& added_tokens_json,
                                                      const std::string& display_name);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  enum class SpecialText { kParse, kPlain };
  // Text -> ids; `add_bos` puts bos_id() first (when the checkpoint has one).
  Result<std::vector<int64_t>> Encode(std::string_view text, bool add_bos,
                                      SpecialText special = SpecialText::kParse) const;
  // Ids -> text. Any id < 0 or >= vocab_size() is InvalidArgument naming it.
  Result<std::string> Decode(const std::vector<int64_t>& ids) const;

  // Number of ids the tokenizer knows: sentencepiece pieces plus added tokens past them.
  int64_t vocab_size() const { return vocab_size_; }
  int64_t sp_vocab_size() const { return sp_vocab_size_; }
  int64_t bos_id() const { return bos_id_; }  // -1 when none
  int64_t eos_id() const { return eos_id_; }  // -1 when none
  int64_t pad_id() const { return pad_id_; }  // -1 when none
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  // The Jinja chat template from tokenizer_config.json (or chat_template.jinja); "" if none.
  const std::string& chat_template() const { return chat_template_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Id of a special/added token or sentencepiece piece spelled exactly `text`; -1 if none.
  int64_t TokenId(std::string_view text) const;
  // The piece text of an id ("▁Hello", "<0xE4>", "<|eom|>"); "" when out of range.
  std::string PieceText(int64_t id) const;
  bool IsSpecial(int64_t id) const;
  // True when long text is encoded in parts (cut before spaces, in parallel): the model's
  // pieces and normaliser make that give the same ids as one sentencepiece call.
  bool encodes_in_parts() const { return word_split_safe_; }

  // Per-token decoding, used by Decode and IncrementalDetokenizer. Appends the bytes of
  // `id` to `pending_bytes` when it is a byte-fallback piece, else returns its surface
  // ("▁" -> " ", the leading one dropped when `at_start`).
  struct Piece {
    bool is_byte = false;
    bool is_control = false;  // renders as nothing and leaves `at_start` as it was
    uint8_t byte = 0;
    std::string surface;  // when !is_byte
  };
  Piece PieceOf(int64_t id, bool at_start) const;
  // PieceOf(id, false), precomputed; `id` must be in range.
  const Piece& CachedPiece(int64_t id) const { return pieces_[static_cast<size_t>(id)]; }

 private:
  Tokenizer();
  Status Init(const std::string& model_bytes, const std::string& tokenizer_config_json,
              const std::string& special_tokens_map_json, const std::string& added_tokens_json,
              const std::string& display_name);
  Status ReadSpecialTokens(const std::string& tokenizer_config_json,
                           const std::string& special_tokens_map_json,
                           const std::string& added_tokens_json, const std::string& display_name);
  void AddToken(int64_t id, const std::string& content, bool special);
  int64_t ResolveToken(const std::string& content) const;
  Status EncodeSegment(std::string_view text, bool at_start, std::vector<int64_t>* out) const;
  Status EncodeRun(std::string_view text, bool at_start, std::vector<int64_t>* out) const;
  size_t SafeCut(std::string_view text, size_t from) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;            // as shipped
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_no_prefix_;  // add_dummy_prefix off
  bool adds_dummy_prefix_ = false;
  // Long text may be encoded in pieces cut before a space (see EncodeSegment).
  bool word_split_safe_ = false;
  bool strips_leading_space_ = false;
  int64_t sp_vocab_size_ = 0;
  int64_t vocab_size_ = 0;
  int64_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  std::string bos_token_, eos_token_;
  std::string chat_template_;
  std::vector<AddedToken> added_;  // in the order the files list them
  std::map<std::string, int64_t, std::less<>> added_by_text_;
  std::map<int64_t, size_t> added_by_id_;  // id -> index in added_
  std::vector<Piece> pieces_;              // PieceOf(id, false) for every id
};

// Turns a stream of ids into text pieces that are always complete UTF-8: a character
// split over byte-fallback pieces is held until its last byte arrives; bytes that can
// never form a character become U+FFFD exactly where Decode puts them. The concatenation
// of everything Push and Finish return equals Decode(all ids).
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tok) : tok_(&tok) {}
  // Text that became final with this id (may be empty). InvalidArgument on a bad id.
  Result<std::string> Push(int64_t id);
  // Flushes bytes still held (an incomplete character at the end becomes U+FFFD).
  std::string Finish();
  // Starts a new output (the next piece is again "at the start").
  void Reset();

 private:
  std::string DrainBytes(bool final);

  const Tokenizer* tok_;
  bool at_start_ = true;
  std::string pending_;  // byte-fallback bytes not yet emitted
};

// Length in bytes of the longest prefix of `s` that is complete, valid UTF-8 (for tests
// and for callers that cut text).
size_t ValidUtf8PrefixLength(std::string_view s);

}  // namespace folio
