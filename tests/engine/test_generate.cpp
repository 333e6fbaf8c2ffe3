// Streaming generation on the tiny model that make-tiny-model writes: order, stop on end
// of turn, the callback and cancellation from another thread, stats, and bad input.
#include <QtTest>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/chat_template.h"
#include "engine/checkpoint.h"
#include "engine/cpu_backend.h"
#include "engine/generate.h"
#include "engine/tiny_model.h"
#include "engine/tokenizer.h"

using namespace folio;

class TestGenerate : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  std::string model_dir_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<CpuBackend> backend_;
  std::vector<int64_t> prompt_;

  std::unique_ptr<Session> NewSession(int64_t max_context = 0) {
    auto s = Session::Create(*backend_, {max_context, 16});
    return s.ok() ? std::move(s).value() : nullptr;
  }
  GenerateParams Greedy(int64_t n) {
    GenerateParams p;
    p.sampling.greedy = true;
    p.max_new_tokens = n;
    return p;
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    model_dir_ = (dir_.path() + "/tiny").toStdString();
    QElapsedTimer timer;
    timer.start();
    auto made = MakeTinyModel(model_dir_, 3);
    QVERIFY2(made.ok(), made.status().message().c_str());
    qInfo("make-tiny-model: %lld ms, %lld parameters, %lld shards",
          static_cast<long long>(timer.elapsed()), static_cast<long long>(made->parameters),
          static_cast<long long>(made->shards));
    auto tok = Tokenizer::Load(model_dir_);
    QVERIFY2(tok.ok(), tok.status().message().c_str());
    tok_ = std::move(tok).value();
    auto backend = CpuBackend::Open(model_dir_, CpuBackendOptions{2, false});
    QVERIFY2(backend.ok(), backend.status().message().c_str());
    backend_ = std::move(backend).value();
    auto chat = ChatTemplate::ForTokenizer(*tok_, "jamba").value();
    prompt_ =
        chat.RenderIds(
                *tok_,
                {{"user", "Was steht im Bericht über die Kosten? 日本語で答えて 🙂"}})
            .value();
  }

  // The tiny checkpoint has the published layout: config, index, every shard checked.
  void tinyModelIsAValidShardedCheckpoint() {
    auto ck = Checkpoint::Open(model_dir_);
    QVERIFY2(ck.ok(), ck.status().message().c_str());
    QCOMPARE((*ck)->config().vocab_size, tok_->vocab_size());
    QCOMPARE((*ck)->MainDType(), DType::kBF16);
    QVERIFY(QFile::exists(QString::fromStdString(model_dir_ + "/model.safetensors.index.json")));
    QVERIFY(QFile::exists(QString::fromStdString(model_dir_ + "/generation_config.json")));
    // The same seed writes the same weights; the tokenizer never changes.
    QTemporaryDir again;
    QVERIFY(MakeTinyModel(again.path().toStdString(), 3).ok());
    for (const char* f : {"/tokenizer.model", "/model-00002-of-00006.safetensors"}) {
      QFile a(QString::fromStdString(model_dir_ + f)), b(again.path() + f);
      QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
      QVERIFY2(a.readAll() == b.readAll(), f);
    }
  }

  // Pieces arrive in the order the model produces ids, each complete UTF-8, and together
  // they are exactly Decode(ids); the ids are those of a plain Session + Sampler loop.
  void streamsPiecesInOrder() {
    auto s = NewSession();
    std::vector<std::string> pieces;
    auto stats = Generate(*s, *tok_, prompt_, Greedy(40), [&](std::string_view p) {
      pieces.emplace_back(p);
      return true;
    });
    QVERIFY2(stats.ok(), stats.status().message().c_str());
    QCOMPARE(stats->reason, StopReason::kMaxTokens);
    QCOMPARE(stats->new_tokens, int64_t{40});
    QCOMPARE(stats->prompt_tokens, static_cast<int64_t>(prompt_.size()));
    QVERIFY(stats->prefill_ms > 0);
    QVERIFY(stats->decode_tokens_per_s > 0);
    std::string all;
    for (const auto& p : pieces) {
      QVERIFY(!p.empty());
      QCOMPARE(ValidUtf8PrefixLength(p), p.size());
      all += p;
    }
    QCOMPARE(all, tok_->Decode(stats->ids).value());

    auto ref = NewSession();
    QVERIFY(ref->Append(prompt_).ok());
    Sampler greedy(SamplingParams{.greedy = true});
    std::vector<int64_t> expected;
    for (int i = 0; i < 40; ++i) {
      expected.push_back(greedy.Sample(ref->last_logits(), ref->tokens()));
      QVERIFY(ref->Step(expected.back()).ok());
    }
    QVERIFY(stats->ids == expected);
    QCOMPARE(stats->pending_id, expected.back());  // the last id is not run through the model
  }

  // An end-of-turn id ends the answer; its text is not shown.
  void stopsAtEndOfTurn() {
    auto s = NewSession();
    auto first = Generate(*s, *tok_, prompt_, Greedy(12), nullptr).value();
    const int64_t stop = first.ids[5];
    const auto at = std::find(first.ids.begin(), first.ids.end(), stop) - first.ids.begin();
    GenerateParams p = Greedy(12);
    p.stop_ids = {stop};
    auto again = NewSession();
    auto st = Generate(*again, *tok_, prompt_, p, nullptr).value();
    QCOMPARE(st.reason, StopReason::kStopToken);
    QCOMPARE(st.new_tokens, static_cast<int64_t>(at));
    QVERIFY(std::equal(st.ids.begin(), st.ids.end(), first.ids.begin()));
    QVERIFY(std::find(st.ids.begin(), st.ids.end(), stop) == st.ids.end());
    QCOMPARE(st.pending_id, int64_t{-1});
  }

  void callbackReturningFalseStops() {
    auto s = NewSession();
    int calls = 0;
    auto st =
        Generate(*s, *tok_, prompt_, Greedy(50), [&](std::string_view) { return ++calls < 3; });
    QVERIFY(st.ok());
    QCOMPARE(st->reason, StopReason::kCallback);
    QCOMPARE(calls, 3);
  }

  // Another thread sets the flag while the reader holds piece 5; the generator must not
  // produce a sixth piece (it checks before every step).
  void cancelFromAnotherThreadTakesEffectWithinOneStep() {
    auto s = NewSession();
    std::atomic<bool> cancel{false};
    std::mutex m;
    std::condition_variable cv;
    bool asked = false, done = false;
    std::thread canceller([&] {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return asked; });
      cancel.store(true);
      done = true;
      cv.notify_all();
    });
    GenerateParams p = Greedy(200);
    p.cancel = &cancel;
    int pieces = 0;
    auto st = Generate(*s, *tok_, prompt_, p, [&](std::string_view piece) {
      if (!piece.empty()) ++pieces;
      if (pieces == 5) {
        std::unique_lock<std::mutex> lock(m);
        asked = true;
        cv.notify_all();
        cv.wait(lock, [&] { return done; });
      }
      return true;
    });
    canceller.join();
    QVERIFY(st.ok());
    QCOMPARE(st->reason, StopReason::kCancelled);
    QCOMPARE(pieces, 5);
    // Cancelled before anything ran: no ids, still not an error.
    auto fresh = NewSession();
    auto none = Generate(*fresh, *tok_, prompt_, p, nullptr);
    QVERIFY(none.ok());
    QCOMPARE(none->new_tokens, int64_t{0});
    QCOMPARE(none->reason, StopReason::kCancelled);
  }

  void promptLongerThanTheContextIsAClearError() {
    auto s = NewSession(32);
    std::vector<int64_t> long_prompt(100, 300);
    auto st = Generate(*s, *tok_, long_prompt, Greedy(4), nullptr);
    QVERIFY(!st.ok());
    QCOMPARE(st.status().code(), ErrorCode::kResourceExhausted);
    QVERIFY(st.status().message().find("context exceeded (100 / 32") != std::string::npos);
    QCOMPARE(s->position(), int64_t{0});  // nothing was consumed
    // A prompt that fits, with too little room left: stops with "context full".
    auto small = NewSession(static_cast<int64_t>(prompt_.size()) + 3);
    auto full = Generate(*small, *tok_, prompt_, Greedy(50), nullptr);
    QVERIFY(full.ok());
    QCOMPARE(full->reason, StopReason::kContextFull);
    QVERIFY(full->new_tokens <= 4);
  }

  void badIdsAndParametersAreRejected() {
    auto s = NewSession();
    std::vector<int64_t> bad = {1, tok_->vocab_size() + 5};
    auto st = Generate(*s, *tok_, bad, Greedy(4), nullptr);
    QVERIFY(!st.ok());
    QCOMPARE(st.status().code(), ErrorCode::kInvalidArgument);
    QVERIFY(st.status().message().find(std::to_string(tok_->vocab_size() + 5)) !=
            std::string::npos);
    auto empty = Generate(*NewSession(), *tok_, {}, Greedy(4), nullptr);
    QCOMPARE(empty.status().code(), ErrorCode::kInvalidArgument);
    GenerateParams neg = Greedy(-1);
    QCOMPARE(Generate(*NewSession(), *tok_, prompt_, neg, nullptr).status().code(),
             ErrorCode::kInvalidArgument);
  }
};

QTEST_GUILESS_MAIN(TestGenerate)
#include "test_generate.moc"
