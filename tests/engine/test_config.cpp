// config.json: the fixtures parse to their values, absent keys take the published
// Jamba defaults, non-Jamba models are refused by name, and every absurd or
// contradictory size is refused with its key named (RELIABILITY.md 17).
#include <QtTest>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "loader_test_util.h"

using namespace folio;
using namespace folio::testing;

namespace {

// jamba-tiny's config with `patch` merged over it (a null value removes the key).
std::string TinyConfigWith(const nlohmann::json& patch) {
  const QByteArray text = ReadBytes(FixturePath("jamba-tiny/config.json"));
  nlohmann::json j = nlohmann::json::parse(text.toStdString());
  j.merge_patch(patch);
  return j.dump();
}

}  // namespace

class TestConfig : public QObject {
  Q_OBJECT

 private slots:
  void jambaTinyParsesToItsValues() {
    auto c = LoadModelConfig(FixturePath("jamba-tiny").toStdString());
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->architecture, std::string("JambaForCausalLM"));
    QCOMPARE(c->hidden_size, int64_t{64});
    QCOMPARE(c->vocab_size, int64_t{512});
    QCOMPARE(c->num_hidden_layers, int64_t{8});
    QCOMPARE(c->num_attention_heads, int64_t{4});
    QCOMPARE(c->num_key_value_heads, int64_t{2});
    QCOMPARE(c->num_experts, int64_t{4});
    QCOMPARE(c->mamba_d_state, int64_t{8});
    QCOMPARE(c->mamba_dt_rank, int64_t{8});
    QCOMPARE(c->torch_dtype, std::string("float32"));
    QCOMPARE(c->PlanString(), std::string("M M+ A M+ M M+ A M+"));
    QCOMPARE(c->head_dim(), int64_t{16});
    QCOMPARE(c->d_inner(), int64_t{128});
  }

  void jambaTinyBf16ParsesToItsValues() {
    auto c = LoadModelConfig(FixturePath("jamba-tiny-bf16").toStdString());
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->num_experts, int64_t{8});
    QCOMPARE(c->mamba_d_state, int64_t{16});
    QCOMPARE(c->torch_dtype, std::string("bfloat16"));
    // The index of this fixture states its parameter total.
    QCOMPARE(c->ParameterCount(), int64_t{959024});
  }

  void absentKeysTakeJamba15MiniDefaults() {
    auto c = ParseModelConfig(R"({"model_type": "jamba"})", "config.json");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->hidden_size, int64_t{4096});
    QCOMPARE(c->num_hidden_layers, int64_t{32});
    QCOMPARE(c->mamba_dt_rank, int64_t{256});
    QCOMPARE(c->intermediate_size, int64_t{14336});
    QCOMPARE(c->eos_token_ids, std::vector<int64_t>{2});
    // JAMBA.md: 52B parameters in all, about 12B active per token.
    QVERIFY2(c->ParameterCount() > int64_t{51'500'000'000} &&
                 c->ParameterCount() < int64_t{52'000'000'000},
             qPrintable(QString::number(c->ParameterCount())));
    QVERIFY2(c->ActiveParameterCount() > int64_t{11'800'000'000} &&
                 c->ActiveParameterCount() < int64_t{12'300'000'000},
             qPrintable(QString::number(c->ActiveParameterCount())));
    const auto plan = c->Plan();
    QCOMPARE(plan.size(), size_t{32});
    int attention = 0, moe = 0;
    for (const auto& l : plan) {
      attention += l.mixer == MixerKind::kAttention;
      moe += l.mlp == MlpKind::kMoE;
    }
    QCOMPARE(attention, 4);
    QCOMPARE(moe, 16);
    QCOMPARE(plan[4].mixer, MixerKind::kAttention);
    QCOMPARE(plan[1].mlp, MlpKind::kMoE);
  }

  void olderTorchDtypeKeyIsRead() {
    auto c =
        ParseModelConfig(TinyConfigWith({{"dtype", nullptr}, {"torch_dtype", "float16"}}), "c");
    QVERIFY(c.ok());
    QCOMPARE(c->torch_dtype, std::string("float16"));
    auto both = ParseModelConfig(TinyConfigWith({{"torch_dtype", "float16"}}), "c");
    QCOMPARE(both->torch_dtype, std::string("float32"));  // the newer key wins
  }

  void eosTokenIdMayBeAList() {
    auto c = ParseModelConfig(TinyConfigWith({{"eos_token_id", {2, 7}}}), "c");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->eos_token_id, int64_t{2});
    QCOMPARE(c->eos_token_ids, (std::vector<int64_t>{2, 7}));
  }

  void dtRankAutoIsHiddenOver16RoundedUp() {
    auto c = ParseModelConfig(
        TinyConfigWith(
            {{"hidden_size", 100}, {"num_attention_heads", 4}, {"mamba_dt_rank", "auto"}}),
        "c");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->mamba_dt_rank, int64_t{7});
  }

  void planWithoutAttentionAndAllMoE() {
    auto c = ParseModelConfig(TinyConfigWith({{"attn_layer_period", 100},
                                              {"attn_layer_offset", 99},
                                              {"expert_layer_period", 1},
                                              {"expert_layer_offset", 0}}),
                              "c");
    QVERIFY2(c.ok(), c.status().message().c_str());
    QCOMPARE(c->PlanString(), std::string("M+ M+ M+ M+ M+ M+ M+ M+"));
    // Active parameters count top-2 of 4 experts: each MoE layer drops 2 experts.
    const int64_t expert = 3 * 64 * 96;
    QCOMPARE(c->ParameterCount() - c->ActiveParameterCount(), 8 * 2 * expert);
  }

  void tiedEmbeddingsCountOnce() {
    auto untied = ParseModelConfig(TinyConfigWith(nlohmann::json::object()), "c");
    auto tied = ParseModelConfig(TinyConfigWith({{"tie_word_embeddings", true}}), "c");
    QVERIFY(untied.ok() && tied.ok());
    QCOMPARE(untied->ParameterCount() - tied->ParameterCount(), int64_t{512 * 64});
  }

  void otherArchitecturesAreUnsupported_data() {
    QTest::addColumn<QString>("fixture");
    QTest::addColumn<QString>("mention");
    QTest::newRow("mamba") << "mamba-tiny"
                           << "model_type 'mamba' is not supported";
    QTest::newRow("mixtral") << "mixtral-tiny"
                             << "model_type 'mixtral' is not supported";
  }
  void otherArchitecturesAreUnsupported() {
    QFETCH(QString, fixture);
    QFETCH(QString, mention);
    auto c = LoadModelConfig(FixturePath(fixture).toStdString());
    QVERIFY(!c.ok());
    QCOMPARE(c.status().code(), ErrorCode::kUnsupported);
    const std::string& m = c.status().message();
    QVERIFY2(m.find((fixture + "/config.json").toStdString()) != std::string::npos, m.c_str());
    QVERIFY2(m.find(mention.toStdString()) != std::string::npos, m.c_str());
  }

  void jambaModelTypeWithOtherArchitectureIsUnsupported() {
    auto c = ParseModelConfig(
        TinyConfigWith({{"architectures", {"JambaForSequenceClassification"}}}), "x/config.json");
    QCOMPARE(c.status().code(), ErrorCode::kUnsupported);
    QVERIFY(c.status().message().find("JambaForSequenceClassification") != std::string::npos);
  }

  void badValueIsRejectedWithTheKeyNamed_data() {
    QTest::addColumn<QByteArray>("patch");
    QTest::addColumn<QString>("key");
    auto row = [](const char* name, const nlohmann::json& patch, const char* key) {
      QTest::newRow(name) << QByteArray::fromStdString(patch.dump()) << key;
    };
    row("layers 0", {{"num_hidden_layers", 0}}, "num_hidden_layers");
    row("layers 10^6", {{"num_hidden_layers", 1000000}}, "num_hidden_layers");
    row("vocab 0", {{"vocab_size", 0}}, "vocab_size");
    row("vocab 2^23", {{"vocab_size", 1 << 23}}, "vocab_size");
    row("hidden 2^40", {{"hidden_size", int64_t{1} << 40}}, "hidden_size");
    row("hidden not divisible by heads", {{"hidden_size", 66}}, "num_attention_heads");
    row("heads not divisible by kv heads", {{"num_key_value_heads", 3}}, "num_key_value_heads");
    row("kv heads 0", {{"num_key_value_heads", 0}}, "num_key_value_heads");
    row("top-k over experts", {{"num_experts_per_tok", 5}}, "num_experts_per_tok");
    row("experts 0", {{"num_experts", 0}}, "num_experts");
    row("attn period 0", {{"attn_layer_period", 0}}, "attn_layer_period");
    row("attn offset = period", {{"attn_layer_offset", 4}}, "attn_layer_offset");
    row("expert period -1", {{"expert_layer_period", -1}}, "expert_layer_period");
    row("expert offset negative", {{"expert_layer_offset", -1}}, "expert_layer_offset");
    row("d_state 0", {{"mamba_d_state", 0}}, "mamba_d_state");
    row("d_conv 1000", {{"mamba_d_conv", 1000}}, "mamba_d_conv");
    row("expand 0", {{"mamba_expand", 0}}, "mamba_expand");
    row("dt_rank 0", {{"mamba_dt_rank", 0}}, "mamba_dt_rank");
    row("dt_rank text", {{"mamba_dt_rank", "big"}}, "mamba_dt_rank");
    row("rms eps 0", {{"rms_norm_eps", 0}}, "rms_norm_eps");
    row("rms eps negative", {{"rms_norm_eps", -1e-6}}, "rms_norm_eps");
    row("intermediate 2^40", {{"intermediate_size", int64_t{1} << 40}}, "intermediate_size");
    row("hidden as text", {{"hidden_size", "64"}}, "hidden_size");
    row("hidden fractional", {{"hidden_size", 64.5}}, "hidden_size");
    row("hidden over int64", {{"hidden_size", 18446744073709551615ull}}, "hidden_size");
    row("bias flag as number", {{"mamba_conv_bias", 1}}, "mamba_conv_bias");
    row("eos outside vocab", {{"eos_token_id", 512}}, "eos_token_id");
    row("eos empty list", {{"eos_token_id", nlohmann::json::array()}}, "eos_token_id");
    row("max positions 0", {{"max_position_embeddings", 0}}, "max_position_embeddings");
  }
  void badValueIsRejectedWithTheKeyNamed() {
    QFETCH(QByteArray, patch);
    QFETCH(QString, key);
    auto c = ParseModelConfig(TinyConfigWith(nlohmann::json::parse(patch.toStdString())),
                              "tiny/config.json");
    QVERIFY(!c.ok());
    QCOMPARE(c.status().code(), ErrorCode::kCorrupt);
    const std::string& m = c.status().message();
    QVERIFY2(m.find("tiny/config.json: ") == 0, m.c_str());
    QVERIFY2(m.find(key.toStdString()) != std::string::npos, m.c_str());
  }

  void malformedJsonIsRejected_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("mention");
    QTest::newRow("not JSON") << QByteArray("{\"model_type\": ") << "JSON";
    QTest::newRow("duplicate key")
        << QByteArray(R"({"model_type":"jamba","hidden_size":64,"hidden_size":128})")
        << "duplicate key 'hidden_size'";
    QTest::newRow("not an object") << QByteArray("[]") << "object";
    QTest::newRow("no model type") << QByteArray("{}") << "model_type";
  }
  void malformedJsonIsRejected() {
    QFETCH(QByteArray, text);
    QFETCH(QString, mention);
    auto c = ParseModelConfig(text.toStdString(), "m/config.json");
    QVERIFY(!c.ok());
    QVERIFY2(c.status().message().find("m/config.json") == 0, c.status().message().c_str());
    QVERIFY2(c.status().message().find(mention.toStdString()) != std::string::npos,
             c.status().message().c_str());
  }

  void missingFolderAndConfigAreNotFound() {
    QTemporaryDir tmp;
    auto none = LoadModelConfig(tmp.path().toStdString() + "/absent");
    QCOMPARE(none.status().code(), ErrorCode::kNotFound);
    QVERIFY(none.status().message().find("absent") != std::string::npos);
    auto empty = LoadModelConfig(tmp.path().toStdString());
    QCOMPARE(empty.status().code(), ErrorCode::kNotFound);
    QVERIFY(empty.status().message().find("config.json") != std::string::npos);
  }

  void hugeConfigFileIsRefusedUnread() {
    QTemporaryDir tmp;
    QFile f(tmp.path() + "/config.json");
    QVERIFY(f.open(QIODevice::WriteOnly));
    QVERIFY(f.resize(64 << 20));  // sparse 64 MB
    f.close();
    auto c = LoadModelConfig(tmp.path().toStdString());
    QCOMPARE(c.status().code(), ErrorCode::kCorrupt);
    QVERIFY(c.status().message().find("too large") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "test_config.moc"
