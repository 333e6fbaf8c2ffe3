// Checkpoint folders: both Jamba fixtures open (one file; 26 shards + index) with their
// known bytes; the index refuses paths out of the folder and missing or duplicated
// tensors (RELIABILITY.md 16); tensors contradicting the config are refused naming the
// tensor and the config key (17); a shard truncated after loading is an error (18).
#include <QtTest>

#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "loader_test_util.h"

using namespace folio;
using namespace folio::testing;

namespace {

// Every tensor of a safetensors file as TensorToWrite, to rewrite it with changes.
std::vector<TensorToWrite> ReadAll(const std::string& path) {
  std::vector<TensorToWrite> out;
  auto f = SafetensorsFile::Open(path);
  if (!f.ok()) return out;
  for (const std::string& n : (*f)->Names()) {
    TensorView v = (*f)->Get(n).value();
    out.push_back({n, v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.nbytes)});
  }
  return out;
}

bool Rewrite(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  return WriteSafetensors(path, tensors).ok();
}

nlohmann::json ReadJson(const QString& path) {
  return nlohmann::json::parse(ReadBytes(path).toStdString());
}

void WriteJson(const QString& path, const nlohmann::json& j) {
  WriteBytes(QFileInfo(path).path(), QFileInfo(path).fileName(),
             QByteArray::fromStdString(j.dump(1)));
}

uint32_t F32Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace

class TestCheckpoint : public QObject {
  Q_OBJECT

  // A fresh copy of a fixture folder, to damage.
  QString CopyOf(QTemporaryDir& tmp, const QString& fixture) {
    const QString dst = tmp.path() + "/" + fixture;
    QDir().mkpath(dst);
    return CopyFixture(fixture, dst) ? dst : QString();
  }

  static void ExpectError(const Result<std::unique_ptr<Checkpoint>>& ck, ErrorCode code,
                          std::initializer_list<const char*> mentions) {
    QVERIFY(!ck.ok());
    const std::string& m = ck.status().message();
    QVERIFY2(ck.status().code() == code, m.c_str());
    for (const char* s : mentions) QVERIFY2(m.find(s) != std::string::npos, m.c_str());
  }

 private slots:
  void opensJambaTinySingleFile() {
    auto ck = Checkpoint::Open(FixturePath("jamba-tiny").toStdString());
    QVERIFY2(ck.ok(), ck.status().message().c_str());
    const Checkpoint& c = **ck;
    QCOMPARE(c.ShardCount(), size_t{1});
    QCOMPARE(c.MainDType(), DType::kF32);
    QCOMPARE(c.Names().size(), size_t{163});
    // The config's parameter count, from shapes alone, matches the stored bytes.
    QCOMPARE(c.TotalBytes(), static_cast<uint64_t>(c.config().ParameterCount()) * 4);
    auto emb = c.Get("model.embed_tokens.weight");
    QVERIFY(emb.ok());
    QCOMPARE(F32Bits(emb->GetF32(0)), 0xbfc346bau);
    QVERIFY(c.Has("model.layers.2.self_attn.q_proj.weight"));
    QVERIFY(!c.Has("model.layers.2.mamba.A_log"));
    QVERIFY(c.CheckIntact().ok());
    QCOMPARE(c.Get("nope").status().code(), ErrorCode::kNotFound);
  }

  void opensJambaTinyBf16Shards() {
    auto ck = Checkpoint::Open(FixturePath("jamba-tiny-bf16").toStdString());
    QVERIFY2(ck.ok(), ck.status().message().c_str());
    const Checkpoint& c = **ck;
    QCOMPARE(c.ShardCount(), size_t{26});
    QCOMPARE(c.MainDType(), DType::kBF16);
    QCOMPARE(c.Names().size(), size_t{211});
    QCOMPARE(c.TotalBytes(), static_cast<uint64_t>(c.config().ParameterCount()) * 2);
    for (const std::string& n : c.Names()) QVERIFY2(c.Get(n).ok(), n.c_str());
    auto norm = c.Get("model.final_layernorm.weight");
    QCOMPARE(norm->GetF32(0), 1.078125f);
    auto up = c.Get("model.layers.5.feed_forward.experts.7.up_proj.weight");
    QVERIFY(up.ok());
    uint16_t raw;
    std::memcpy(&raw, up->data + 2 * 17, 2);
    QCOMPARE(raw, uint16_t{0xbcce});
  }

  // ---- RELIABILITY 16: the index ------------------------------------------------------
  void badIndexIsRejected_data() {
    QTest::addColumn<QString>("shard");
    QTest::newRow("parent dir") << "../model-00001-of-00026.safetensors";
    QTest::newRow("absolute path") << "/etc/passwd";
    QTest::newRow("subfolder") << "sub/model.safetensors";
    QTest::newRow("backslash") << "..\\model.safetensors";
    QTest::newRow("dot dot") << "..";
    QTest::newRow("empty") << "";
  }
  void badIndexIsRejected() {
    QFETCH(QString, shard);
    nlohmann::json j = {
        {"metadata", {{"total_size", 8}}},
        {"weight_map", {{"a.weight", "model.safetensors"}, {"b.weight", shard.toStdString()}}}};
    auto m = ParseSafetensorsIndex(j.dump(), "idx.json");
    QVERIFY(!m.ok());
    QCOMPARE(m.status().code(), ErrorCode::kCorrupt);
    const std::string& msg = m.status().message();
    QVERIFY2(msg.find("idx.json") != std::string::npos, msg.c_str());
    QVERIFY2(msg.find("b.weight") != std::string::npos, msg.c_str());
  }

  void indexWithDuplicatedTensorIsRejected() {
    const std::string text =
        R"({"weight_map": {"a.weight": "s1.safetensors", "a.weight": "s2.safetensors"}})";
    auto m = ParseSafetensorsIndex(text, "idx.json");
    QCOMPARE(m.status().code(), ErrorCode::kCorrupt);
    QVERIFY2(m.status().message().find("duplicate key 'a.weight'") != std::string::npos,
             m.status().message().c_str());
  }

  void indexWithoutWeightMapIsRejected() {
    for (const char* text : {"{}", R"({"weight_map": {}})", R"({"weight_map": []})", "[]", "{"}) {
      auto m = ParseSafetensorsIndex(text, "idx.json");
      QVERIFY2(!m.ok(), text);
      QVERIFY(m.status().message().find("idx.json") == 0);
    }
  }

  void shardMissingFromFolderIsNotFound() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    QVERIFY(QFile::remove(dir + "/model-00007-of-00026.safetensors"));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kNotFound,
                {"model-00007-of-00026.safetensors", "missing"});
  }

  void indexTensorMissingFromItsShardIsRejected() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    nlohmann::json idx = ReadJson(dir + "/model.safetensors.index.json");
    idx["weight_map"]["model.layers.0.ghost.weight"] = "model-00004-of-00026.safetensors";
    WriteJson(dir + "/model.safetensors.index.json", idx);
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kCorrupt,
                {"model.layers.0.ghost.weight", "model-00004-of-00026.safetensors"});
  }

  void tensorInTwoShardsIsRejected() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    // Shard 26 also gets a copy of the final norm, which the index puts in shard 3.
    const std::string s26 = (dir + "/model-00026-of-00026.safetensors").toStdString();
    auto tensors = ReadAll(s26);
    auto s3 = ReadAll((dir + "/model-00003-of-00026.safetensors").toStdString());
    for (const auto& t : s3) {
      if (t.name == "model.final_layernorm.weight") tensors.push_back(t);
    }
    QVERIFY(Rewrite(s26, tensors));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kCorrupt,
                {"model.final_layernorm.weight", "two shards"});
  }

  void tensorTheIndexDoesNotListIsRejected() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    const std::string s26 = (dir + "/model-00026-of-00026.safetensors").toStdString();
    auto tensors = ReadAll(s26);
    tensors.push_back({"stray.weight", DType::kBF16, {2}, {0, 0, 0, 0}});
    QVERIFY(Rewrite(s26, tensors));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kCorrupt, {"stray.weight"});
  }

  // ---- RELIABILITY 17: tensors against the config ------------------------------------
  void tensorNeededByThePlanMissingIsNotFound() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny");
    const std::string path = (dir + "/model.safetensors").toStdString();
    auto tensors = ReadAll(path);
    std::erase_if(tensors, [](const auto& t) { return t.name == "model.layers.3.mamba.A_log"; });
    QVERIFY(Rewrite(path, tensors));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kNotFound,
                {"model.layers.3.mamba.A_log", "layer 3 Mamba", "attn_layer_period"});
  }

  void shapeContradictingConfigIsRejected_data() {
    QTest::addColumn<QByteArray>("patch");
    QTest::addColumn<QString>("tensor");
    QTest::addColumn<QString>("key");
    auto row = [](const char* name, const nlohmann::json& p, const char* tensor, const char* key) {
      QTest::newRow(name) << QByteArray::fromStdString(p.dump()) << tensor << key;
    };
    row("vocab", {{"vocab_size", 1000}}, "model.embed_tokens.weight", "vocab_size");
    row("intermediate", {{"intermediate_size", 97}}, "model.layers.0.feed_forward.gate_proj.weight",
        "intermediate_size");
    row("d_state", {{"mamba_d_state", 9}}, "model.layers.0.mamba.x_proj.weight", "mamba_d_state");
    row("d_conv", {{"mamba_d_conv", 3}}, "model.layers.0.mamba.conv1d.weight", "mamba_d_conv");
    row("kv heads", {{"num_key_value_heads", 4}}, "model.layers.2.self_attn.k_proj.weight",
        "num_key_value_heads");
    row("experts", {{"num_experts", 3}}, "model.layers.1.feed_forward.router.weight",
        "num_experts");
    row("more experts", {{"num_experts", 5}}, "model.layers.1.feed_forward.router.weight",
        "num_experts");
    row("plan", {{"attn_layer_offset", 1}}, "model.layers.1.self_attn.q_proj.weight",
        "attn_layer_period/offset");
  }
  void shapeContradictingConfigIsRejected() {
    QFETCH(QByteArray, patch);
    QFETCH(QString, tensor);
    QFETCH(QString, key);
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny");
    nlohmann::json cfg = ReadJson(dir + "/config.json");
    cfg.merge_patch(nlohmann::json::parse(patch.toStdString()));
    WriteJson(dir + "/config.json", cfg);
    auto ck = Checkpoint::Open(dir.toStdString());
    QVERIFY(!ck.ok());
    const std::string& m = ck.status().message();
    QVERIFY2(
        ck.status().code() == ErrorCode::kCorrupt || ck.status().code() == ErrorCode::kNotFound,
        m.c_str());
    QVERIFY2(m.find(tensor.toStdString()) != std::string::npos, m.c_str());
    QVERIFY2(m.find(key.toStdString()) != std::string::npos, m.c_str());
  }

  void integerWeightsAreUnsupported() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny");
    const std::string path = (dir + "/model.safetensors").toStdString();
    auto tensors = ReadAll(path);
    for (auto& t : tensors) {
      if (t.name == "model.final_layernorm.weight") t.dtype = DType::kI32;  // same 4 bytes each
    }
    QVERIFY(Rewrite(path, tensors));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kUnsupported,
                {"model.final_layernorm.weight", "I32"});
  }

  void folderWithoutWeightsIsNotFound() {
    QTemporaryDir tmp;
    const QString dir = tmp.path() + "/cfg-only";
    QDir().mkpath(dir);
    QVERIFY(QFile::copy(FixturePath("jamba-tiny/config.json"), dir + "/config.json"));
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kNotFound, {"model.safetensors"});
  }

  void nonJambaFolderIsUnsupported() {
    ExpectError(Checkpoint::Open(FixturePath("mamba-tiny").toStdString()), ErrorCode::kUnsupported,
                {"mamba-tiny/config.json", "model_type 'mamba'"});
  }

  // ---- RELIABILITY 18: truncation -----------------------------------------------------
  void shardTruncatedBeforeOpenIsCorrupt() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    const QString shard = dir + "/model-00010-of-00026.safetensors";
    QVERIFY(::truncate(shard.toUtf8().constData(), 5000) == 0);
    ExpectError(Checkpoint::Open(dir.toStdString()), ErrorCode::kCorrupt,
                {"model-00010-of-00026.safetensors", "past the end"});
  }

  void shardTruncatedAfterOpenIsReportedNotFaulted() {
    QTemporaryDir tmp;
    const QString dir = CopyOf(tmp, "jamba-tiny-bf16");
    auto ck = Checkpoint::Open(dir.toStdString());
    QVERIFY2(ck.ok(), ck.status().message().c_str());
    QVERIFY((*ck)->CheckIntact().ok());
    const QString shard = dir + "/model-00018-of-00026.safetensors";
    QVERIFY(::truncate(shard.toUtf8().constData(), 100) == 0);
    Status s = (*ck)->CheckIntact();
    QCOMPARE(s.code(), ErrorCode::kIo);
    QVERIFY2(s.message().find("model-00018-of-00026.safetensors") != std::string::npos,
             s.message().c_str());
    auto v = (*ck)->Get("model.layers.5.feed_forward.experts.7.up_proj.weight");
    QCOMPARE(v.status().code(), ErrorCode::kIo);
    // Tensors in intact shards are still served.
    QVERIFY((*ck)->Get("model.final_layernorm.weight").ok());
  }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "test_checkpoint.moc"
