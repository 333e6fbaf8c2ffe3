// The cost model against the figures JAMBA.md derives by hand for Jamba-1.5-Mini on one
// H200 (parameters, decode bytes, prefill FLOPs, weight memory, the 80 GB int8 claim), and
// its arithmetic on a shape small enough to count by hand.
#include <QtTest>

#include <cmath>

#include "engine/cost_model.h"
#include "engine/synthetic.h"

using namespace folio;

namespace {

ModelConfig Mini() {
  auto c = SyntheticConfig("jamba-1.5-mini");
  if (!c.ok()) qFatal("%s", c.status().message().c_str());
  return *c;
}

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace

class TestCostModel : public QObject {
  Q_OBJECT
 private slots:
  void miniHasThePublishedParameterCounts() {
    const ModelConfig c = Mini();
    // JAMBA.md: 52B parameters, about 12B (11.8B) active per token.
    QVERIFY(std::abs(c.ParameterCount() / 1e9 - 51.6) < 0.5);
    QVERIFY(std::abs(c.ActiveParameterCount() / 1e9 - 12.1) < 0.4);
  }

  void decodeFloorsMatchJambaMd() {
    const ModelConfig c = Mini();
    const HardwareFloor h200 = HardwareFloor::H200();
    // "11.8B active parameters x 2 bytes = 23.6 GB read per token -> 5.5 ms"
    const double at4k = DecodeBytesPerToken(c, 4096) / h200.bandwidth * 1e3;
    // "at 140K context add 2.2 GiB of KV -> about 6.0 ms"
    const double at140k = DecodeBytesPerToken(c, 140000) / h200.bandwidth * 1e3;
    qInfo("decode floor: %.2f ms at 4K, %.2f ms at 140K", at4k, at140k);
    QVERIFY(at4k > 5.3 && at4k < 5.8);
    QVERIFY(at140k > 5.8 && at140k < 6.3);
    const double kv = DecodeBytesPerToken(c, 140000) - DecodeBytesPerToken(c, 0);
    QVERIFY(std::abs(kv / kGiB - 2.14) < 0.05);  // 4 layers x 2 x 1024 x 2 bytes x 140K
  }

  void int8ExpertsHalveTheExpertBytesOfADecodeStep() {
    const ModelConfig c = Mini();
    CostOptions int8;
    int8.experts_int8 = true;
    const double bf16 = DecodeBytesPerToken(c, 4096), q = DecodeBytesPerToken(c, 4096, int8);
    // 16 MoE layers x 2 experts x 3 x 4096 x 14336 elements go from 2 bytes to 1 (+ scales).
    const double experts = 16.0 * 2 * 3 * 4096 * 14336;
    QVERIFY(std::abs((bf16 - q) - experts) / experts < 0.01);
  }

  void prefillFloorMatchesJambaMd() {
    const ModelConfig c = Mini();
    // "140K tokens is about 4e15 FLOP -> about 5 s"
    const double flops = PrefillFlops(c, 140000);
    const double s = flops / HardwareFloor::H200().flops;
    qInfo("prefill floor at 140K: %.3g FLOP, %.2f s", flops, s);
    QVERIFY(flops > 3.3e15 && flops < 4.2e15);
    QVERIFY(s > 4.2 && s < 5.3);
    // Chunked prefill does the same work as one call: 4 chunks of 35K == 140K at once.
    double chunks = 0;
    for (int i = 0; i < 4; ++i) chunks += PrefillFlops(c, 35000, 35000LL * i);
    const double lm_head = 2.0 * 65536 * 4096;  // counted once per call
    QVERIFY(std::abs((chunks - 3 * lm_head) - flops) / flops < 1e-9);
  }

  void weightsFitAsJambaMdSays() {
    const ModelConfig c = Mini();
    const ModelCost bf16 = CountModelCost(c);
    // "All 52B weights in bf16 take about 96 GiB"
    QVERIFY(std::abs(bf16.weight_bytes / kGiB - 96.1) < 1.0);
    QCOMPARE(bf16.kv_bytes_per_token, uint64_t{16384});  // "16 KiB per token"
    QVERIFY(bf16.mamba_state_bytes > 14u << 20 && bf16.mamba_state_bytes < 17u << 20);
    // One H200 (141 GB): 140K fits beside the weights with bf16 experts.
    QVERIFY(LargestContext(c, 141000000000ull, 4ull << 30) >= 140000);
    // 80 GB: not with bf16 experts; with int8 experts, 140K and the 256K maximum fit.
    const uint64_t card80 = 80ull << 30;
    QCOMPARE(LargestContext(c, card80, 4ull << 30), int64_t{0});
    CostOptions int8;
    int8.experts_int8 = true;
    const ModelCost q = CountModelCost(c, int8);
    qInfo("weights: bf16 %s, int8 experts %s (experts %s)", FormatGiB(bf16.weight_bytes).c_str(),
          FormatGiB(q.weight_bytes).c_str(), FormatGiB(q.expert_bytes).c_str());
    QVERIFY(q.weight_bytes / kGiB > 50 && q.weight_bytes / kGiB < 58);
    QVERIFY(LargestContext(c, card80, 4ull << 30, int8) >= 262144);
  }

  void smallShapeCountsByHand() {
    // One attention layer, dense MLP: every term can be written out.
    ModelConfig c;
    c.vocab_size = 10;
    c.hidden_size = 8;
    c.intermediate_size = 6;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.attn_layer_period = 1;
    c.attn_layer_offset = 0;
    c.num_experts = 1;
    // weights: embed + lm_head 2*10*8*2, final norm 8*4, norms 2*8*4, q,o 8*8, k,v 4*8 (x2
    // bytes), MLP 3*8*6*2.
    const ModelCost m = CountModelCost(c);
    QCOMPARE(m.weight_bytes, uint64_t{320 + 32 + 64 + (2 * 64 + 2 * 32) * 2 + 288});
    QCOMPARE(m.kv_bytes_per_token, uint64_t{2 * 4 * 2});
    // decode at context 3: lm_head 160 + embed row 16 + attention 384 + K/V 2*4*2*4 + MLP 288
    QCOMPARE(DecodeBytesPerToken(c, 3), 160.0 + 16 + 384 + 64 + 288);
    // prefill of 2 tokens after 1: projections 2*(192+144) per token, attention
    // 4 * 8 * (2*1 + 3) = 160, lm_head 2*10*8 once.
    QCOMPARE(PrefillFlops(c, 2, 1), 2 * 2.0 * (192 + 144) + 160 + 160);
  }
};

QTEST_GUILESS_MAIN(TestCostModel)
#include "test_cost_model.moc"
