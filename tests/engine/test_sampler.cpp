// The sampler: greedy, temperature, top-k, top-p, repetition penalty, seeding.
#include <QtTest>

#include <cmath>
#include <map>
#include <vector>

#include "engine/sampler.h"

using namespace folio;

namespace {

std::map<int64_t, int> Histogram(Sampler& s, const std::vector<float>& logits, int draws,
                                 const std::vector<int64_t>& history = {}) {
  std::map<int64_t, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.Sample(logits, history)];
  return h;
}

std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

}  // namespace

class TestSampler : public QObject {
  Q_OBJECT
 private slots:
  void greedyPicksArgmaxAndLowestIdOnTies() {
    Sampler s(SamplingParams{.greedy = true});
    QCOMPARE(s.Sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}, {}), int64_t{1});
    QCOMPARE(s.Sample(std::vector<float>{1.0f, 5.0f, 5.0f}, {}), int64_t{1});
  }

  void temperatureZeroIsGreedy() {
    Sampler s(SamplingParams{.temperature = 0.0f});
    for (int i = 0; i < 20; ++i) QCOMPARE(s.Sample(std::vector<float>{0.0f, 0.5f, 0.4f}, {}), int64_t{1});
  }

  void sameSeedRepeatsAndOtherSeedDiffers() {
    const std::vector<float> flat(50, 0.0f);
    auto draw = [&](uint64_t seed) {
      Sampler s(SamplingParams{.seed = seed});
      std::vector<int64_t> out;
      for (int i = 0; i < 30; ++i) out.push_back(s.Sample(flat, {}));
      return out;
    };
    QCOMPARE(draw(5), draw(5));
    QVERIFY(draw(5) != draw(6));
  }

  void frequenciesFollowTheSoftmax() {
    const std::vector<double> p = {0.5, 0.25, 0.125, 0.125};
    Sampler s(SamplingParams{.seed = 1});
    const int n = 40000;
    auto h = Histogram(s, LogitsOf(p), n);
    for (size_t i = 0; i < p.size(); ++i) {
      QVERIFY2(std::fabs(double(h[int64_t(i)]) / n - p[i]) < 0.015,
               qPrintable(QString("id %1: %2").arg(i).arg(double(h[int64_t(i)]) / n)));
    }
  }

  void lowTemperatureSharpensHighFlattens() {
    const auto logits = LogitsOf({0.4, 0.3, 0.2, 0.1});
    Sampler cold(SamplingParams{.temperature = 0.3f, .seed = 2});
    Sampler hot(SamplingParams{.temperature = 3.0f, .seed = 2});
    const int n = 5000;
    const double top_cold = Histogram(cold, logits, n)[0] / double(n);
    const double top_hot = Histogram(hot, logits, n)[0] / double(n);
    QVERIFY2(top_cold > 0.6 && top_hot < 0.33, qPrintable(QString("%1 %2").arg(top_cold).arg(top_hot)));
  }

  void topKKeepsOnlyTheKMostLikely() {
    const std::vector<float> logits = {1.0f, 3.0f, 0.5f, 2.0f, 2.5f, -1.0f};
    Sampler s(SamplingParams{.top_k = 3, .seed = 3});
    auto h = Histogram(s, logits, 3000);
    QCOMPARE(int(h.size()), 3);
    QVERIFY(h.count(1) && h.count(3) && h.count(4));
  }

  void topPKeepsTheSmallestNucleus() {
    // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0, 1} (0.8 >= 0.75).
    const auto logits = LogitsOf({0.5, 0.3, 0.15, 0.05});
    Sampler s(SamplingParams{.top_p = 0.75f, .seed = 4});
    auto h = Histogram(s, logits, 4000);
    QCOMPARE(int(h.size()), 2);
    QVERIFY(h.count(0) && h.count(1));
    // Renormalised within the nucleus: 0.5/0.8.
    QVERIFY(std::fabs(h[0] / 4000.0 - 0.625) < 0.03);
    // A tiny top_p still keeps the single most likely id.
    Sampler one(SamplingParams{.top_p = 0.01f, .seed = 4});
    QCOMPARE(int(Histogram(one, logits, 200).size()), 1);
  }

  void repetitionPenaltyDividesPositiveAndMultipliesNegative() {
    Sampler s(SamplingParams{.greedy = true, .repetition_penalty = 2.0f});
    // 2.0 / 2 = 1.0 < 1.9: the seen id loses.
    QCOMPARE(s.Sample(std::vector<float>{2.0f, 1.9f, -1.0f}, std::vector<int64_t>{0}), int64_t{1});
    // -1 * 2 = -2 < -1.5: a seen negative logit gets more negative.
    QCOMPARE(s.Sample(std::vector<float>{-1.0f, -1.5f}, std::vector<int64_t>{0}), int64_t{1});
    // Applied once per id however often it was seen: 3.0 / 2 = 1.5 > 1.4.
    QCOMPARE(s.Sample(std::vector<float>{3.0f, 1.4f}, std::vector<int64_t>{0, 0, 0}), int64_t{0});
  }

  void repetitionWindowOnlyCountsRecentIds() {
    Sampler s(SamplingParams{.greedy = true, .repetition_penalty = 2.0f, .repetition_window = 2});
    QCOMPARE(s.Sample(std::vector<float>{2.0f, 1.9f}, std::vector<int64_t>{0, 5, 5}), int64_t{0});
    QCOMPARE(s.Sample(std::vector<float>{2.0f, 1.9f}, std::vector<int64_t>{5, 0}), int64_t{1});
  }

  void invalidParamsAreRejectedNamingTheField() {
    auto message = [](SamplingParams p) { return ValidateSamplingParams(p).message(); };
    QVERIFY(ValidateSamplingParams({}).ok());
    QVERIFY(message({.temperature = -1.0f}).find("temperature") != std::string::npos);
    QVERIFY(message({.temperature = NAN}).find("temperature") != std::string::npos);
    QVERIFY(message({.top_k = -2}).find("top_k") != std::string::npos);
    QVERIFY(message({.top_p = 0.0f}).find("top_p") != std::string::npos);
    QVERIFY(message({.top_p = 1.5f}).find("top_p") != std::string::npos);
    QVERIFY(message({.repetition_penalty = 0.0f}).find("repetition_penalty") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestSampler)
#include "test_sampler.moc"
