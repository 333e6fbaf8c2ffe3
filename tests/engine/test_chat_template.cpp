// Chat templates: the Jinja subset against hand-written expected strings (Jamba-1.5 and
// Mixtral formats as their model cards document them), unsupported constructs named with
// their position, and the end-of-turn ids generation stops at.
#include <QtTest>

#include <random>

#include "engine/chat_template.h"
#include "engine/jinja.h"
#include "engine/tiny_model.h"
#include "engine/tokenizer.h"

using namespace folio;

namespace {

// A template in the style of the published Jamba-1.5/1.6/1.7 ones, written for this test:
// a namespace carries flags out of macros, macros take keyword defaults, a macro is
// called through a list with *args, documents and tools are rendered as text and JSON,
// and the file is laid out with indentation that trim_blocks/lstrip_blocks remove.
const char* kJambaStyle = R"JINJA({#- Jamba-1.5-style template written for Folio's tests. -#}
{% set ns = namespace(count=0, found=false) %}
{% set bom = bom or "<|bom|>" %}
{% set eom = eom or "<|eom|>" %}
{% macro role_header(role, space=True) %}
  {{- "<|" ~ role ~ "|>" -}}
  {% if space %}{{- " " -}}{% endif %}
{% endmacro %}
{% macro has(value, key=none, nonempty=False) %}
  {% if key is not none %}
    {% if key in value %}{% set value = value[key] %}{% else %}{% set value = none %}{% endif %}
  {% endif %}
  {% set ok = value is defined and value is not none %}
  {% set ns.found = (ok and value|length > 0) if nonempty else ok %}
{% endmacro %}
{% macro render_docs(docs) %}
  {{- "<documents>" -}}
  {% for doc in docs %}
    {{- "\n## Document " ~ loop.index0 -}}
    {% for key, value in doc.items() if key != "text" %}
      {{- "\n" ~ key|title ~ ": " ~ value|string -}}
    {% endfor %}
    {{- "\nText: " ~ doc.text|trim -}}
  {% endfor %}
  {{- "\n</documents>" -}}
{% endmacro %}
{% macro render_tools(tools) %}
  {{- "<tool_definitions>" -}}
  {% for tool in tools %}{{- "\n" ~ tool|tojson(indent=2) -}}{% endfor %}
  {{- "\n</tool_definitions>" -}}
{% endmacro %}
{% if messages|length > 0 and messages[0].role == "system" %}
  {% set system_message = messages[0].content %}
  {% set turns = messages[1:] %}
{% else %}
  {% set turns = messages %}
{% endif %}
{% if bos_token is defined and bos_token is not none %}{{- bos_token -}}{% endif %}
{{- bom ~ role_header("system") -}}
{% set _ = has(system_message) %}
{% if ns.found %}{{- system_message -}}{% endif %}
{% set _ = has(tools, nonempty=True) %}
{% if ns.found %}
  {% set parts = [render_tools] %}
  {% set args = [[tools]] %}
  {% if system_message is defined %}{{- "\n\n" -}}{% endif %}
  {{- parts[0](*args[0]) -}}
{% endif %}
{% set ns.count = 1 %}
{% for message in turns %}
  {% if message.role not in ["user", "assistant"] %}
    {{ raise_exception("unsupported role " ~ message.role) }}
  {% endif %}
  {% if loop.last and message.role == "user" %}
    {% set _ = has(documents, nonempty=True) %}
    {% if ns.found %}
      {{- eom ~ bom ~ role_header("system") ~ render_docs(documents) -}}
    {% endif %}
  {% endif %}
  {{- eom ~ bom ~ role_header(message.role) ~ message.content -}}
  {% set ns.count = ns.count + 1 %}
{% endfor %}
{% if add_generation_prompt %}
  {{- eom ~ bom ~ role_header("assistant", space=False) -}}
{% else %}
  {{- eom -}}
{% endif %}
)JINJA";

// Mixtral-Instruct style, written for this test: dict subscripts, alternation check.
const char* kMixtralStyle =
    "{{- bos_token -}}\n"
    "{%- for message in messages -%}\n"
    "  {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "    {{- raise_exception('roles must alternate') -}}\n"
    "  {%- endif -%}\n"
    "  {%- if message['role'] == 'user' -%}\n"
    "    {{- '[INST] ' + message['content'] + ' [/INST]' -}}\n"
    "  {%- elif message['role'] == 'assistant' -%}\n"
    "    {{- message['content'] + eos_token -}}\n"
    "  {%- else -%}\n"
    "    {{- raise_exception('only user and assistant roles') -}}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}\n";

std::string Render(const std::string& source, const std::string& context_json) {
  auto t = jinja::Template::Parse(source);
  if (!t.ok()) return "PARSE: " + t.status().message();
  auto ctx = jinja::FromJsonText(context_json);
  if (!ctx.ok()) return "CONTEXT";
  auto r = (*t)->Render(*ctx);
  return r.ok() ? *r : "RENDER: " + r.status().message();
}

}  // namespace

class TestChatTemplate : public QObject {
  Q_OBJECT

 private slots:
  void jambaStyleTemplateSingleUserTurn() {
    auto t = ChatTemplate::FromSource(kJambaStyle, "<|startoftext|>", "<|endoftext|>");
    QVERIFY2(t.ok(), t.status().message().c_str());
    auto r = t->Render({{"user", "Hello, how are you?"}});
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(*r,
             std::string("<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Hello, how are "
                         "you?<|eom|><|bom|><|assistant|>"));
  }

  void jambaStyleTemplateWithSystemToolsAndDocuments() {
    auto t = ChatTemplate::FromSource(kJambaStyle, "<|startoftext|>", "<|endoftext|>");
    QVERIFY(t.ok());
    ChatRenderOptions opt;
    opt.extra_context_json = R"({"tools": [{"name": "f", "parameters": {"type": "object"}}],
        "documents": [{"title": "Report", "year": 2025, "text": " Costs rose. "}]})";
    auto r = t->Render({{"system", "Be brief."}, {"user", "What rose?"}}, opt);
    QVERIFY2(r.ok(), r.status().message().c_str());
    QCOMPARE(*r, std::string(
                     "<|startoftext|><|bom|><|system|> Be brief.\n\n<tool_definitions>\n{\n"
                     "  \"name\": \"f\",\n  \"parameters\": {\n    \"type\": \"object\"\n  }\n}\n"
                     "</tool_definitions><|eom|><|bom|><|system|> <documents>\n## Document 0\n"
                     "Title: Report\nYear: 2025\nText: Costs rose.\n</documents><|eom|><|bom|>"
                     "<|user|> What rose?<|eom|><|bom|><|assistant|>"));
  }

  void jambaStyleTemplateWithoutGenerationPrompt() {
    auto t = ChatTemplate::FromSource(kJambaStyle, "<|startoftext|>", "<|endoftext|>");
    QVERIFY(t.ok());
    auto r = t->Render({{"user", "Hi"}, {"assistant", "Hello!"}}, {false, ""});
    QVERIFY(r.ok());
    QCOMPARE(*r,
             std::string("<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Hi<|eom|><|bom|>"
                         "<|assistant|> Hello!<|eom|>"));
    auto bad = t->Render({{"tool", "x"}});
    QVERIFY(!bad.ok());
    QVERIFY(bad.status().message().find("unsupported role tool") != std::string::npos);
  }

  void builtinJambaFormatMatchesTheModelCard() {
    auto t = ChatTemplate::FromSource(ChatTemplate::BuiltinSource("jamba"), "<|startoftext|>", "");
    QVERIFY(t.ok());
    QCOMPARE(
        t->Render({{"system", "You are a helpful assistant."},
                   {"user", "What is the capital of France?"}})
            .value(),
        std::string("<|startoftext|><|bom|><|system|> You are a helpful assistant.<|eom|><|bom|>"
                    "<|user|> What is the capital of France?<|eom|><|bom|><|assistant|>"));
    QCOMPARE(
        t->Render({{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}).value(),
        std::string("<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Hi<|eom|><|bom|>"
                    "<|assistant|> Hello!<|eom|><|bom|><|user|> Bye<|eom|><|bom|><|assistant|>"));
  }

  void mixtralFormats() {
    auto t = ChatTemplate::FromSource(kMixtralStyle, "<s>", "</s>");
    QVERIFY(t.ok());
    QCOMPARE(t->Render({{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}).value(),
             std::string("<s>[INST] Hi [/INST]Hello!</s>[INST] Bye [/INST]"));
    auto bad = t->Render({{"user", "a"}, {"user", "b"}});
    QVERIFY(!bad.ok());
    QCOMPARE(bad.status().code(), ErrorCode::kInvalidArgument);
    QVERIFY(bad.status().message().find("roles must alternate") != std::string::npos);
    auto builtin = ChatTemplate::FromSource(ChatTemplate::BuiltinSource("mixtral"), "<s>", "</s>");
    QVERIFY(builtin.ok());
    QCOMPARE(
        builtin
            ->Render({{"system", "Sys."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}})
            .value(),
        std::string("<s> [INST] Sys.\n\nHi [/INST] Hello!</s> [INST] Bye [/INST]"));
  }

  void whitespaceControlAndBlockTrimming() {
    QCOMPARE(Render("a  {{- 'b' -}}  c", "{}"), std::string("abc"));
    QCOMPARE(Render("x\n  {% if true %}\n  y\n  {% endif %}\nz", "{}"), std::string("x\n  y\nz"));
    QCOMPARE(Render("{# c #}\n{%+ if true %}k{% endif %}", "{}"), std::string("k"));
    QCOMPARE(Render("  {%+ if true %}k{% endif %}", "{}"), std::string("  k"));
    QCOMPARE(Render("{{ 'a' }}\n{{ 'b' }}", "{}"), std::string("a\nb"));  // trim_blocks skips {{ }}
  }

  void expressionsBehaveAsInPython() {
    QCOMPARE(Render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "{}"),
             std::string("3 -4 2 3.5 1024"));
    QCOMPARE(Render("{{ none }} {{ true }} {{ [1, 'a'] }} {{ {'k': none} }} {{ undefined_name }}.",
                    "{}"),
             std::string("None True [1, 'a'] {'k': None} ."));
    QCOMPARE(Render("{{ x or 'd' }} {{ 0 and 1 }} {{ 'y' if x else 'n' }}", "{}"),
             std::string("d 0 n"));
    QCOMPARE(
        Render("{{ 'ab' in 'cabd' }} {{ 3 not in [1, 2] }} {{ 'k' in d }}", R"({"d": {"k": 1}})"),
        std::string("True True True"));
    QCOMPARE(Render("{{ s[1:] }} {{ s[:-1] }} {{ s[::-1] }} {{ l[1:3] }} {{ l[-1] }}",
                    R"({"s": "héllo", "l": [1, 2, 3, 4]})"),
             std::string("éllo héll olléh [2, 3] 4"));
    QCOMPARE(
        Render(
            "{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'Ab'.lower() }}|{{ d.get('z', 5) }}",
            R"({"d": {}})"),
        std::string("a b|['a', 'b']|ab|5"));
  }

  void filtersAndTests() {
    QCOMPARE(
        Render(
            "{{ '  x ' | trim }}|{{ [1,2,3]|length }}|{{ 'ab'|upper }}|{{ 'hello world'|title }}",
            "{}"),
        std::string("x|3|AB|Hello World"));
    QCOMPARE(
        Render(
            "{{ x|default('d') }}|{{ ''|default('e', true) }}|{{ '42'|int + 1 }}|{{ [3,1]|first }}",
            "{}"),
        std::string("d|e|43|3"));
    QCOMPARE(Render("{{ m|tojson }}", R"({"m": {"b": [1, 2.5, "é\n"], "a": null, "t": true}})"),
             std::string("{\"b\": [1, 2.5, \"é\\n\"], \"a\": null, \"t\": true}"));
    QCOMPARE(Render("{{ ms|map(attribute='role')|join(',') }}|{{ ms|selectattr('role', 'equalto', "
                    "'user')|list|length }}",
                    R"({"ms": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]})"),
             std::string("user,assistant,user|2"));
    QCOMPARE(Render("{{ x is defined }} {{ none is none }} {{ 's' is string }} {{ 3 is odd }} {{ x "
                    "is not defined }}",
                    "{}"),
             std::string("False True True True True"));
  }

  void loopsAndScoping() {
    QCOMPARE(Render("{% for x in xs %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ "
                    "loop.length }};{% endfor %}",
                    R"({"xs": ["a", "b"]})"),
             std::string("1TrueFalse2;2FalseTrue2;"));
    // A set inside a loop does not leak out; a namespace does.
    QCOMPARE(
        Render("{% set v = 1 %}{% set ns = namespace(v=1) %}{% for x in [1,2] %}{% set v = 5 %}"
               "{% set ns.v = ns.v + x %}{% endfor %}{{ v }} {{ ns.v }}",
               "{}"),
        std::string("1 4"));
    QCOMPARE(Render("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 "
                    "%}{% continue %}"
                    "{% endif %}{{ x }}{% endfor %}",
                    "{}"),
             std::string("02"));
    QCOMPARE(Render("{% for x in [] %}a{% else %}empty{% endfor %}", "{}"), std::string("empty"));
    QCOMPARE(Render("{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}",
                    R"({"d": {"b": 1, "a": 2}})"),
             std::string("b=1 a=2 "));
    QCOMPARE(Render("{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]", "{}"),
             std::string("[inner 2]"));
    QCOMPARE(Render("{% macro m(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ m('x') }}{{ m('y', "
                    "b='z') }}{{ m(*['p', 'q']) }}",
                    "{}"),
             std::string("xByzpq"));
  }

  // Anything the renderer does not implement is refused up front with its name and place.
  void unsupportedConstructsAreNamedWithTheirPosition() {
    struct Case {
      const char* source;
      const char* names;
      const char* where;
    };
    const Case cases[] = {
        {"ok\n{% include 'x.jinja' %}", "'{% include %}'", "line 2, column 1"},
        {"{% call m() %}x{% endcall %}", "'{% call %}'", "line 1, column 1"},
        {"{% raw %}x{% endraw %}", "'{% raw %}'", "line 1, column 1"},
        {"{{ x | wordwrap(3) }}", "filter 'wordwrap'", "line 1, column 8"},
        {"a\nb {{ x is sameas y }}", "test 'sameas'", "line 2, column 11"},
        {"{{ f(**kw) }}", "'**kwargs'", "line 1, column 6"},
        {"{% set a, b = 1, 2 %}", "unpacking", "line 1, column 1"},
        {"{% for x in xs recursive %}{% endfor %}", "recursive", "line 1, column 1"},
    };
    for (const Case& c : cases) {
      auto t = ChatTemplate::FromSource(c.source, "", "");
      QVERIFY2(!t.ok(), c.source);
      QCOMPARE(t.status().code(), ErrorCode::kUnsupported);
      const std::string& m = t.status().message();
      QVERIFY2(m.find(c.names) != std::string::npos && m.find(c.where) != std::string::npos,
               m.c_str());
    }
  }

  void malformedTemplatesAreErrorsWithPositions() {
    for (const char* src : {"{% if x %}never closed", "{{ 'open string }}", "{% endif %}",
                            "{{ 1 + }}", "text {{ x", "{% for %}{% endfor %}"}) {
      auto t = ChatTemplate::FromSource(src, "", "");
      QVERIFY2(!t.ok(), src);
      QCOMPARE(t.status().code(), ErrorCode::kInvalidArgument);
      QVERIFY2(t.status().message().find("line ") != std::string::npos,
               t.status().message().c_str());
    }
    // Runtime failures name what went wrong instead of printing a wrong prompt.
    QVERIFY(Render("{{ nofunc(1) }}", "{}").find("'nofunc' is not a function") !=
            std::string::npos);
    QVERIFY(Render("{{ x.y.z }}", "{}").find("'x' is undefined") != std::string::npos);
    QVERIFY(Render("{{ l.append(1) }}", R"({"l": []})").find("cannot be changed") !=
            std::string::npos);
    QVERIFY(Render("{{ 'a' + 1 }}", "{}").find("cannot apply '+'") != std::string::npos);
  }

  void hostileTemplatesFailCleanly() {
    const std::string deep_parens = std::string(5000, '(') + "1" + std::string(5000, ')');
    QVERIFY(Render("{{ " + deep_parens + " }}", "{}").find("nested too deeply") !=
            std::string::npos);
    std::string chain = "{{ 1";
    for (int i = 0; i < 5000; ++i) chain += " + 1";
    QVERIFY(Render(chain + " }}", "{}").find("nested too deeply") != std::string::npos);
    std::string blocks;
    for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
    QVERIFY(Render(blocks, "{}").find("PARSE") == 0);
    QVERIFY(Render("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{}").find("too deeply") !=
            std::string::npos);
  }

  // Seeded random edits of a real template: each one parses and renders, or fails with an
  // error; none crashes or hangs.
  void mutatedTemplatesNeverCrash() {
    const std::string base = kJambaStyle;
    const std::string pool = "{}%#-+|()[].,'\"~=<>!*/ \nabcifnotforinsetendmacro0123";
    std::mt19937 rng(2024);
    int rendered = 0;
    for (int round = 0; round < 3000; ++round) {
      std::string s = base;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const size_t at = rng() % s.size();
        switch (rng() % 3) {
          case 0:
            s.erase(at, 1 + rng() % 8);
            break;
          case 1:
            s.insert(at, 1, pool[rng() % pool.size()]);
            break;
          default:
            s[at] = pool[rng() % pool.size()];
        }
      }
      auto t = ChatTemplate::FromSource(s, "<s>", "</s>");
      if (!t.ok()) {
        QVERIFY(!t.status().message().empty());
        continue;
      }
      auto r = t->Render({{"system", "S"}, {"user", "Hi"}, {"assistant", "A"}, {"user", "Q"}});
      rendered += r.ok();
    }
    QVERIFY(rendered > 0);
  }

  // The tiny model's tokenizer: prompt ids, the built-in fallback, and stop ids.
  void promptIdsAndStopIdsForACheckpoint() {
    QTemporaryDir dir;
    QVERIFY(MakeTinyModel(dir.path().toStdString(), 1).ok());
    auto tok = Tokenizer::Load(dir.path().toStdString()).value();
    auto chat = ChatTemplate::ForTokenizer(*tok, "jamba");
    QVERIFY2(chat.ok(), chat.status().message().c_str());
    QVERIFY(!chat->builtin());
    auto ids = chat->RenderIds(*tok, {{"user", "Hello"}}).value();
    const std::vector<int64_t> head = {1, tok->TokenId("<|bom|>"), tok->TokenId("<|system|>")};
    QVERIFY(std::equal(head.begin(), head.end(), ids.begin()));
    QCOMPARE(ids.back(), tok->TokenId("<|assistant|>"));
    QCOMPARE(std::count(ids.begin(), ids.end(), int64_t{1}), 1);  // bos once, not twice
    const auto stops = chat->StopIds(*tok);
    QVERIFY(std::find(stops.begin(), stops.end(), tok->eos_id()) != stops.end());
    QVERIFY(std::find(stops.begin(), stops.end(), tok->TokenId("<|eom|>")) != stops.end());
    // Without a chat_template the family's built-in format is used.
    std::string model;
    {
      QFile f(dir.path() + "/tokenizer.model");
      QVERIFY(f.open(QIODevice::ReadOnly));
      model = f.readAll().toStdString();
    }
    auto bare = Tokenizer::FromParts(model, "", "", "", "tokenizer.model").value();
    auto fallback = ChatTemplate::ForTokenizer(*bare, "jamba").value();
    QVERIFY(fallback.builtin());
    QCOMPARE(fallback.Render({{"user", "Hi"}}).value(),
             std::string("<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> "
                         "Hi<|eom|><|bom|><|assistant|>"));
  }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
