// Chat prompts over the Jinja subset. See chat_template.h.
#include "engine/chat_template.h"

#include <algorithm>

#include "engine/jinja.h"
#include "engine/tokenizer.h"

namespace folio {
namespace {

// Jamba-1.5 turns, written for Folio from the model card's format: a system turn always
// (empty when none is given), "<|bom|><|role|> text<|eom|>" per message, and the
// generation prompt "<|bom|><|assistant|>" with no trailing space.
constexpr const char* kJambaTemplate =
    "{#- Folio's built-in Jamba-1.5 chat format. -#}\n"
    "{%- if messages and messages[0].role == 'system' -%}\n"
    "  {%- set system_message = messages[0].content -%}\n"
    "  {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "  {%- set system_message = '' -%}\n"
    "  {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{{- bos_token -}}\n"
    "{{- '<|bom|><|system|> ' + system_message -}}\n"
    "{%- for message in loop_messages -%}\n"
    "  {%- if message.role not in ['user', 'assistant', 'tool'] -%}\n"
    "    {{- raise_exception('Unknown role: ' ~ message.role) -}}\n"
    "  {%- endif -%}\n"
    "  {{- '<|eom|><|bom|><|' + message.role + '|> ' + message.content -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|eom|><|bom|><|assistant|>' -}}\n"
    "{%- else -%}\n"
    "  {{- '<|eom|>' -}}\n"
    "{%- endif -%}\n";

// Mixtral-Instruct turns: "<s> [INST] a [/INST] b</s> [INST] c [/INST]"; a system message
// is put in front of the first user message; roles must alternate.
constexpr const char* kMixtralTemplate =
    "{%- if messages and messages[0].role == 'system' -%}\n"
    "  {%- set system_message = messages[0].content -%}\n"
    "  {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "  {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{{- bos_token -}}\n"
    "{%- for message in loop_messages -%}\n"
    "  {%- if (message.role == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "    {{- raise_exception('roles must alternate user/assistant after an optional system "
    "message') -}}\n"
    "  {%- endif -%}\n"
    "  {%- if message.role == 'user' -%}\n"
    "    {%- if loop.first and system_message is defined -%}\n"
    "      {{- ' [INST] ' + system_message + '\\n\\n' + message.content + ' [/INST]' -}}\n"
    "    {%- else -%}\n"
    "      {{- ' [INST] ' + message.content + ' [/INST]' -}}\n"
    "    {%- endif -%}\n"
    "  {%- else -%}\n"
    "    {{- ' ' + message.content + eos_token -}}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}\n";

}  // namespace

const char* ChatTemplate::BuiltinSource(const std::string& model_type) {
  return model_type == "mixtral" ? kMixtralTemplate : kJambaTemplate;
}

Result<ChatTemplate> ChatTemplate::FromSource(const std::string& source,
                                              const std::string& bos_token,
                                              const std::string& eos_token) {
  ChatTemplate t;
  FOLIO_ASSIGN_OR_RETURN(t.tmpl_, jinja::Template::Parse(source));
  t.source_ = source;
  t.bos_ = bos_token;
  t.eos_ = eos_token;
  return t;
}

Result<ChatTemplate> ChatTemplate::ForTokenizer(const Tokenizer& tok,
                                                const std::string& model_type) {
  const bool has_own = !tok.chat_template().empty();
  auto t = FromSource(has_own ? tok.chat_template() : BuiltinSource(model_type), tok.bos_token(),
                      tok.eos_token());
  if (!t.ok()) return t.status().WithContext("the checkpoint's chat_template");
  t->builtin_ = !has_own;
  return t;
}

Result<std::string> ChatTemplate::Render(const std::vector<ChatMessage>& messages,
                                         const ChatRenderOptions& options) const {
  jinja::Value ctx = jinja::Value::NewDict();
  if (!options.extra_context_json.empty()) {
    auto extra = jinja::FromJsonText(options.extra_context_json);
    if (!extra.ok() || extra->kind != jinja::Value::Kind::kDict)
      return InvalidArgument("extra chat context is not a JSON object");
    for (const auto& [k, v] : *extra->dict) ctx.Set(k, v);
  }
  jinja::Value list = jinja::Value::NewList();
  for (const ChatMessage& m : messages) {
    jinja::Value msg = jinja::Value::NewDict();
    msg.Set("role", jinja::Value::Str(m.role));
    msg.Set("content", jinja::Value::Str(m.content));
    list.list->push_back(msg);
  }
  ctx.Set("messages", list);
  ctx.Set("add_generation_prompt", jinja::Value::Bool(options.add_generation_prompt));
  ctx.Set("bos_token", jinja::Value::Str(bos_));
  ctx.Set("eos_token", jinja::Value::Str(eos_));
  return tmpl_->Render(ctx);
}

Result<std::vector<int64_t>> ChatTemplate::RenderIds(const Tokenizer& tok,
                                                     const std::vector<ChatMessage>& messages,
                                                     const ChatRenderOptions& options) const {
  FOLIO_ASSIGN_OR_RETURN(std::string text, Render(messages, options));
  return tok.Encode(text, /*add_bos=*/false, Tokenizer::SpecialText::kParse);
}

std::vector<int64_t> ChatTemplate::StopIds(const Tokenizer& tok) const {
  std::vector<int64_t> ids;
  if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  for (const char* t : {"<|eom|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"}) {
    const int64_t id = tok.TokenId(t);
    if (id >= 0 && source_.find(t) != std::string::npos &&
        std::find(ids.begin(), ids.end(), id) == ids.end())
      ids.push_back(id);
  }
  return ids;
}

}  // namespace folio
