// Chat prompts: a checkpoint's Jinja chat_template (tokenizer_config.json) rendered with
// the conversation, or, for a checkpoint without one, the built-in format of its family
// (Jamba-1.5's <|bom|><|role|> ...<|eom|> turns; Mixtral's [INST] ... [/INST]).
//
//   auto chat = ChatTemplate::ForTokenizer(tok, "jamba").value();
//   auto ids = chat.RenderIds(tok, {{"user", "What changed?"}}).value();
//   ... generate, stopping at any of chat.StopIds(tok) ...
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"

namespace folio {

class Tokenizer;
namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;  // end with the assistant's turn header
  // Extra template variables as a JSON object (e.g. {"documents": [...], "tools": [...]}).
  std::string extra_context_json;
};

class ChatTemplate {
 public:
  // The tokenizer's chat_template, or the built-in format of `model_type` ("jamba",
  // "mixtral"; anything else gets Jamba's) when the checkpoint has none. A template that
  // uses a construct the renderer lacks is an Unsupported error naming it and its line.
  static Result<ChatTemplate> ForTokenizer(const Tokenizer& tok, const std::string& model_type);
  // A template from source text, with the bos/eos strings it may print.
  static Result<ChatTemplate> FromSource(const std::string& source, const std::string& bos_token,
                                         const std::string& eos_token);
  // The built-in template text for a family.
  static const char* BuiltinSource(const std::string& model_type);

  Result<std::string> Render(const std::vector<ChatMessage>& messages,
                             const ChatRenderOptions& options = {}) const;
  // Render, then encode with special-token strings parsed and no extra bos (the template
  // writes bos itself, as with Hugging Face's apply_chat_template).
  Result<std::vector<int64_t>> RenderIds(const Tokenizer& tok,
                                         const std::vector<ChatMessage>& messages,
                                         const ChatRenderOptions& options = {}) const;
  // Ids that end an assistant turn: eos, and the end-of-turn token the template writes
  // (<|eom|> for Jamba-1.5; <|im_end|>, <|eot_id|>, <|end|>, <end_of_turn> for others).
  std::vector<int64_t> StopIds(const Tokenizer& tok) const;

  const std::string& source() const { return source_; }
  bool builtin() const { return builtin_; }

 private:
  std::shared_ptr<const jinja::Template> tmpl_;
  std::string source_, bos_, eos_;
  bool builtin_ = false;
};

}  // namespace folio
