// folio-cli make-tiny-model | tokenize | detokenize | generate --prompt | chat, run as a
// separate process on a tiny model made by the CLI itself.
#include <QtTest>

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <csignal>
#include <random>

#include "engine/tokenizer.h"

using namespace folio;

namespace {

const QString kCli = QStringLiteral(FOLIO_BINARY_DIR "/bin/folio-cli");

struct Run {
  int code = -1;
  QByteArray out, err;
};

Run RunCli(const QStringList& args, const QByteArray& input = {}) {
  QProcess p;
  p.start(kCli, args);
  if (!input.isEmpty()) p.write(input);
  p.closeWriteChannel();
  Run r;
  if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit) return r;
  r.code = p.exitCode();
  r.out = p.readAllStandardOutput();
  r.err = p.readAllStandardError();
  return r;
}

bool OneLine(const QByteArray& err) {
  return err.trimmed().count('\n') == 0 && !err.trimmed().isEmpty();
}

}  // namespace

class TestCliText : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  QString model_;

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    model_ = dir_.path() + "/tiny";
    Run r = RunCli({"make-tiny-model", "--out", model_, "--seed", "5"});
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.contains("gibberish"));
    for (const char* f : {"config.json", "tokenizer.model", "tokenizer_config.json",
                          "model.safetensors.index.json", "generation_config.json"})
      QVERIFY2(QFile::exists(model_ + "/" + f), f);
  }

  void tokenizeAndDetokenizeRoundTrip() {
    const QString text =
        QString::fromUtf8("Straße, 日本語, emoji 🙂 and  two spaces\tand a tab");
    Run ids = RunCli({"tokenize", "--model", model_, text});
    QCOMPARE(ids.code, 0);
    auto tok = Tokenizer::Load(model_.toStdString()).value();
    std::string expected;
    const std::vector<int64_t> text_ids = tok->Encode(text.toStdString(), false).value();
    for (int64_t id : text_ids) {
      if (!expected.empty()) expected += ' ';
      expected += std::to_string(id);
    }
    QCOMPARE(ids.out.trimmed().toStdString(), expected);
    QStringList args = {"detokenize", "--model", model_};
    args += QString::fromUtf8(ids.out.trimmed()).split(' ');
    Run back = RunCli(args);
    QCOMPARE(back.code, 0);
    QCOMPARE(QString::fromUtf8(back.out), text + "\n");
  }

  void detokenizeRejectsIdsOutsideTheVocabulary() {
    for (const char* bad : {"1024", "-1", "abc"}) {
      Run r = RunCli({"detokenize", "--model", model_, "5", bad});
      QCOMPARE(r.code, 2);
      QVERIFY2(OneLine(r.err), r.err.constData());
      QVERIFY(r.out.isEmpty());
    }
    QVERIFY(RunCli({"detokenize", "--model", model_, "99999"}).err.contains("out of range"));
  }

  // The streamed text is exactly the text of the ids `generate --tokens` produces.
  void generatePromptStreamsTheTextOfTheIds() {
    Run text = RunCli({"generate", "--model", model_, "--prompt", "The report says", "--greedy",
                       "--max-new", "24"});
    QCOMPARE(text.code, 0);
    auto tok = Tokenizer::Load(model_.toStdString()).value();
    QStringList prompt;
    const std::vector<int64_t> prompt_ids =
        tok->Encode("The report says", true, Tokenizer::SpecialText::kPlain).value();
    for (int64_t id : prompt_ids) prompt << QString::number(id);
    Run ids = RunCli({"generate", "--model", model_, "--tokens", prompt.join(','), "--greedy",
                      "--max-new", "24", "--stop-at-eos"});
    QCOMPARE(ids.code, 0);
    std::vector<int64_t> out;
    for (const QString& s : QString::fromUtf8(ids.out.trimmed()).split(' '))
      out.push_back(s.toLongLong());
    if (!out.empty() && out.back() == tok->eos_id()) out.pop_back();
    QCOMPARE(text.out.toStdString(), tok->Decode(out).value() + "\n");
  }

  void generateReportsStatsOnStderr() {
    Run r = RunCli({"generate", "--model", model_, "--prompt", "Hello", "--chat", "--max-new", "8",
                    "--seed", "4", "--stats"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.err.contains("prompt tokens") && r.err.contains("tokens/s"), r.err.constData());
  }

  void promptLongerThanTheContextIsAClearError() {
    std::mt19937 rng(3);
    QString text;
    const QStringList words = {"report", "日本", "Kosten", "🙂", "page", "naïve", "data"};
    while (text.size() < 40000) text += words[static_cast<int>(rng() % words.size())] + " ";
    Run r = RunCli({"generate", "--model", model_, "--prompt", text, "--max-new", "4"});
    QCOMPARE(r.code, 2);
    QVERIFY2(OneLine(r.err) && r.err.contains("context exceeded"), r.err.constData());
  }

  // Without a GPU, --device cuda is one clear line; with one, the answer streams.
  void deviceCudaRunsOrSaysWhyNot() {
    Run r = RunCli(
        {"generate", "--model", model_, "--prompt", "Hello", "--max-new", "4", "--device", "cuda"});
    QVERIFY2(r.code == 0 || (r.code == 2 && OneLine(r.err)), r.err.constData());
    Run a = RunCli(
        {"generate", "--model", model_, "--prompt", "Hello", "--max-new", "4", "--device", "auto"});
    QCOMPARE(a.code, 0);
  }

  void chatResetsAndQuits() {
    Run r = RunCli({"chat", "--model", model_, "--max-new", "6", "--greedy"},
                   "hello\n/reset\nagain\n/quit\nnever read\n");
    QCOMPARE(r.code, 0);
    QVERIFY(r.out.contains("[conversation reset]"));
  }

  // SIGINT while an answer streams stops that answer; the program goes on to the next line.
  void ctrlCStopsTheAnswerNotTheProgram() {
    QProcess p;
    p.start(kCli, {"chat", "--model", model_, "--max-new", "100000", "--seed", "1"});
    QVERIFY(p.waitForStarted());
    p.write("write forever\n");
    QByteArray out;
    while (out.size() < 20 && p.waitForReadyRead(30000)) out += p.readAllStandardOutput();
    QVERIFY(out.size() >= 20);
    ::kill(static_cast<pid_t>(p.processId()), SIGINT);
    while (!out.contains("[stopped]") && p.waitForReadyRead(30000))
      out += p.readAllStandardOutput();
    QVERIFY(out.contains("[stopped]"));
    p.write("/quit\n");
    p.closeWriteChannel();
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
  }

  void damagedTokenizerIsAClearError() {
    QTemporaryDir broken;
    QVERIFY(RunCli({"make-tiny-model", "--out", broken.path()}).code == 0);
    QFile f(broken.path() + "/tokenizer.model");
    QVERIFY(f.open(QIODevice::ReadWrite));
    const QByteArray whole = f.readAll();
    for (const QByteArray& bytes : {whole.left(whole.size() / 2), QByteArray(5000, '\x5a')}) {
      f.resize(0);
      f.seek(0);
      f.write(bytes);
      f.flush();
      Run r = RunCli({"tokenize", "--model", broken.path(), "hello"});
      QCOMPARE(r.code, 2);
      QVERIFY2(OneLine(r.err) && r.err.contains("tokenizer.model"), r.err.constData());
      Run g = RunCli({"generate", "--model", broken.path(), "--prompt", "hello"});
      QCOMPARE(g.code, 2);
    }
  }

  void badOptionsAreOneLine() {
    for (const QStringList& args :
         {QStringList{"tokenize", "--model", model_}, QStringList{"tokenize", "hello"},
          QStringList{"generate", "--model", model_, "--prompt", ""},
          QStringList{"make-tiny-model"}, QStringList{"chat", "--model", model_, "--bogus", "1"}}) {
      Run r = RunCli(args);
      QCOMPARE(r.code, 2);
      QVERIFY2(OneLine(r.err), r.err.constData());
    }
  }
};

QTEST_GUILESS_MAIN(TestCliText)
#include "test_cli_text.moc"
