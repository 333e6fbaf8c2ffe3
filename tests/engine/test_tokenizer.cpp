// Tokenizer: parity with sentencepiece (spm_encode, DecodeIds), round trips, special
// tokens, the incremental detokenizer, and bad tokenizer files (RELIABILITY.md 19-20).
#include <QtTest>

#include <sentencepiece_processor.h>

#include <fstream>
#include <random>
#include <sstream>

#include "engine/tiny_model.h"
#include "engine/tokenizer.h"

using namespace folio;

namespace {

// Multilingual text with the hard cases: CJK, emoji (with ZWJ and skin tone), combining
// marks, RTL scripts, runs of spaces, tabs and empty lines, characters the tiny
// vocabulary has never seen (byte fallback).
const char* kText =
    "Folio reads long documents.  Two spaces,   three, and\ttabs.\n"
    "\n\n"
    "Über Straße café naïve — “quoted” «text» ½ 10⁶ H₂O\n"
    "e\xCC\x81 n\xCC\x83 o\xCC\x88 (combining marks)  \xE1\xB8\xB1\n"
    "日本語の文章です。中文句子，还有标点。한국어 문장입니다.\n"
    "Emoji: 📄📚 👩‍💻 👍🏽 🇫🇷 🦜 ☃\n"
    "Русский текст, ελληνικά, עברית, العربية, हिन्दी, ไทย.\n"
    "Unseen: ꙮ 𓀀 ᚠᚢᚦ ⵣ 🜁\n"
    "    indented code: for (int i = 0; i < n; ++i) { sum += x[i]; }\n"
    "trailing spaces   \n"
    "   \n"
    "end";

std::string ReadAll(const QString& path) {
  std::ifstream in(path.toStdString(), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsValidUtf8(const std::string& s) {
  return ValidUtf8PrefixLength(s) == s.size();
}

}  // namespace

class TestTokenizer : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  QString model_dir_;
  std::unique_ptr<Tokenizer> tok_;

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    model_dir_ = dir_.path() + "/tiny";
    auto made = MakeTinyModel(model_dir_.toStdString(), 7);
    QVERIFY2(made.ok(), made.status().message().c_str());
    auto tok = Tokenizer::Load(model_dir_.toStdString());
    QVERIFY2(tok.ok(), tok.status().message().c_str());
    tok_ = std::move(tok).value();
  }

  void specialTokensComeFromTheConfigFiles() {
    QCOMPARE(tok_->bos_id(), int64_t{1});
    QCOMPARE(tok_->eos_id(), int64_t{2});
    QCOMPARE(tok_->pad_id(), int64_t{0});
    QCOMPARE(tok_->bos_token(), std::string("<|startoftext|>"));
    QCOMPARE(tok_->TokenId("<|bom|>"), int64_t{4});
    QCOMPARE(tok_->TokenId("<|eom|>"), int64_t{5});
    QCOMPARE(tok_->TokenId("<|assistant|>"), int64_t{8});
    QVERIFY(tok_->IsSpecial(5));
    QVERIFY(!tok_->chat_template().empty());
    QCOMPARE(tok_->vocab_size(), tok_->sp_vocab_size());
  }

  // spm_encode reads one sentence per line, so the comparison is line by line; empty lines
  // and lines of spaces are part of it.
  void idsMatchSpmEncodeOnMultilingualText() {
    const QString input = dir_.path() + "/multilingual.txt";
    {
      std::ofstream out(input.toStdString(), std::ios::binary);
      out << kText << "\n";
    }
    QProcess spm;
    spm.start("spm_encode",
              {"--model", model_dir_ + "/tokenizer.model", "--output_format=id", "--input", input});
    if (!spm.waitForStarted()) QSKIP("spm_encode (package sentencepiece) is not installed");
    QVERIFY(spm.waitForFinished(60000));
    QCOMPARE(spm.exitCode(), 0);
    const QStringList expected_lines = QString::fromUtf8(spm.readAllStandardOutput()).split('\n');
    std::istringstream lines(kText);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
      std::vector<int64_t> expected;
      for (const QString& s : expected_lines.at(n).split(' ', Qt::SkipEmptyParts))
        expected.push_back(s.toLongLong());
      for (auto mode : {Tokenizer::SpecialText::kPlain, Tokenizer::SpecialText::kParse}) {
        auto ids = tok_->Encode(line, false, mode);
        QVERIFY(ids.ok());
        QVERIFY2(*ids == expected, qPrintable(QString("line %1: %2").arg(n).arg(line.c_str())));
      }
      ++n;
    }
    QVERIFY(n >= 10);
  }

  // Long documents are encoded in parts (cut before spaces, one part per core); the ids
  // must be those of one sentencepiece call over the whole text.
  void longTextInPartsEqualsOneSentencepieceCall() {
    QVERIFY(tok_->encodes_in_parts());
    std::string text;
    while (text.size() < 150000) text += TinyModelCorpus() + "   three spaces  " + kText;
    sentencepiece::SentencePieceProcessor sp;
    QVERIFY(sp.Load((model_dir_ + "/tokenizer.model").toStdString()).ok());
    std::vector<int> whole;
    QVERIFY(sp.Encode(text, &whole).ok());
    auto ours = tok_->Encode(text, false, Tokenizer::SpecialText::kPlain);
    QVERIFY(ours.ok());
    QCOMPARE(ours->size(), whole.size());
    QVERIFY(std::equal(whole.begin(), whole.end(), ours->begin()));
    QCOMPARE(tok_->Decode(*ours).value(), text);
  }

  void decodeOfEncodeIsTheOriginalText() {
    auto ids = tok_->Encode(kText, false);
    QVERIFY(ids.ok());
    auto text = tok_->Decode(*ids);
    QVERIFY(text.ok());
    QCOMPARE(*text, std::string(kText));
    // Seeded random strings over a pool with ASCII, Latin, CJK, emoji and unseen scripts.
    const std::vector<std::string> pool = {
        "a", "b", " ",         "  ", "\n", "\t", "é", "ß", "日",  "本",   "😀",     "👩‍💻",
        "ꙮ", "𓀀", "e\xCC\x81", "<",  "|",  ">",  "0", "7", "the", " doc", "ument", "ق"};
    std::mt19937 rng(1234);
    for (int round = 0; round < 300; ++round) {
      std::string s;
      const int len = static_cast<int>(rng() % 40);
      for (int k = 0; k < len; ++k) s += pool[rng() % pool.size()];
      auto e = tok_->Encode(s, false);
      QVERIFY(e.ok());
      auto d = tok_->Decode(*e);
      QVERIFY(d.ok());
      QVERIFY2(*d == s, s.c_str());
    }
  }

  // Our Decode must render exactly as sentencepiece's own DecodeIds, for any id sequence
  // (byte pieces in any order, control tokens, leading word-start markers).
  void decodeMatchesSentencepieceDecodeIds() {
    sentencepiece::SentencePieceProcessor sp;
    QVERIFY(sp.Load((model_dir_ + "/tokenizer.model").toStdString()).ok());
    std::mt19937 rng(99);
    for (int round = 0; round < 2000; ++round) {
      std::vector<int> ids;
      std::vector<int64_t> ids64;
      const int len = 1 + static_cast<int>(rng() % 12);
      for (int k = 0; k < len; ++k) {
        // Bias towards byte pieces (ids 12..267) so that partial characters are common.
        const int id = (rng() % 2) ? 12 + static_cast<int>(rng() % 256)
                                   : static_cast<int>(rng() % sp.GetPieceSize());
        ids.push_back(id);
        ids64.push_back(id);
      }
      auto ours = tok_->Decode(ids64);
      QVERIFY(ours.ok());
      QCOMPARE(*ours, sp.DecodeIds(ids));
    }
  }

  // After every id the text emitted so far is valid UTF-8 and a prefix of the full decode;
  // at the end it is the full decode. Runs over real text and over random id streams
  // (every split point of each stream is a step).
  void incrementalDetokenizerEmitsOnlyCompleteUtf8() {
    std::vector<std::vector<int64_t>> streams;
    streams.push_back(tok_->Encode(kText, false).value());
    std::mt19937 rng(5);
    for (int round = 0; round < 500; ++round) {
      std::vector<int64_t> ids;
      const int len = 1 + static_cast<int>(rng() % 20);
      for (int k = 0; k < len; ++k)
        ids.push_back((rng() % 3) ? 12 + static_cast<int64_t>(rng() % 256)
                                  : static_cast<int64_t>(rng() % tok_->vocab_size()));
      streams.push_back(ids);
    }
    for (const auto& ids : streams) {
      const std::string full = tok_->Decode(ids).value();
      IncrementalDetokenizer d(*tok_);
      std::string so_far;
      for (int64_t id : ids) {
        auto piece = d.Push(id);
        QVERIFY(piece.ok());
        QVERIFY(IsValidUtf8(*piece));
        so_far += *piece;
        QVERIFY(full.compare(0, so_far.size(), so_far) == 0);
      }
      so_far += d.Finish();
      QCOMPARE(so_far, full);
    }
  }

  void characterSplitOverBytePiecesIsHeldUntilComplete() {
    // "ꙮ" (U+A66E, E2 99 AE) is not in the tiny vocabulary: three byte pieces.
    auto ids = tok_->Encode("ꙮ", false).value();
    std::vector<int64_t> bytes;
    for (int64_t id : ids)
      if (tok_->PieceText(id).rfind("<0x", 0) == 0) bytes.push_back(id);
    QCOMPARE(bytes.size(), size_t{3});
    IncrementalDetokenizer d(*tok_);
    QCOMPARE(d.Push(bytes[0]).value(), std::string());
    QCOMPARE(d.Push(bytes[1]).value(), std::string());
    QCOMPARE(d.Push(bytes[2]).value(), std::string("ꙮ"));
    // A character cut off at the end becomes U+FFFD per byte, as in Decode.
    IncrementalDetokenizer cut(*tok_);
    QCOMPARE(cut.Push(bytes[0]).value(), std::string());
    QCOMPARE(cut.Finish(), std::string("\xEF\xBF\xBD"));
  }

  void wordStartMarkerIsDroppedOnlyAtTheStart() {
    auto ids = tok_->Encode("Folio reads", false).value();
    QVERIFY(tok_->PieceText(ids[0]).rfind("\xE2\x96\x81", 0) == 0);  // "▁Folio..."
    QCOMPARE(tok_->Decode(ids).value(), std::string("Folio reads"));
    IncrementalDetokenizer d(*tok_);
    std::string out;
    for (int64_t id : ids) out += d.Push(id).value();
    QCOMPARE(out, std::string("Folio reads"));
    // After Reset the next output starts again without its marker.
    d.Reset();
    QCOMPARE(d.Push(ids[0]).value().front(), 'F');
  }

  // Special-token strings in a rendered prompt become single ids, and the text after
  // them gets no extra dummy "▁" (the template writes the space itself).
  void specialTokenStringsBecomeSingleIds() {
    const std::string prompt = "<|startoftext|><|bom|><|user|> Hello<|eom|><|bom|><|assistant|>";
    auto ids = tok_->Encode(prompt, false).value();
    QCOMPARE(ids[0], int64_t{1});
    QCOMPARE(ids[1], int64_t{4});
    QCOMPARE(ids[2], tok_->TokenId("<|user|>"));
    QVERIFY(tok_->PieceText(ids[3]).rfind("\xE2\x96\x81", 0) == 0);
    QVERIFY(tok_->PieceText(ids[4]).rfind("\xE2\x96\x81", 0) != 0);  // "▁Hello", not "▁" "▁Hello"
    QCOMPARE(ids[ids.size() - 3], int64_t{5});
    QCOMPARE(ids.back(), int64_t{8});
    // Control tokens such as <|endoftext|> are text when parsing is off.
    auto plain = tok_->Encode("<|endoftext|>", false, Tokenizer::SpecialText::kPlain).value();
    QVERIFY(plain.size() > 1);
    QVERIFY(std::find(plain.begin(), plain.end(), int64_t{2}) == plain.end());
    auto parsed = tok_->Encode("x<|endoftext|>", false).value();
    QCOMPARE(parsed.back(), int64_t{2});
  }

  void addBosPutsBosFirst() {
    auto ids = tok_->Encode("hi", true).value();
    QCOMPARE(ids.front(), int64_t{1});
    QCOMPARE(tok_->Decode(ids).value(), std::string("hi"));
  }

  void addedTokensPastTheSentencepieceVocabulary() {
    const std::string model = ReadAll(model_dir_ + "/tokenizer.model");
    const std::string config =
        R"({"added_tokens_decoder": {"1024": {"content": "<|extra|>", "special": true}},
            "bos_token": {"content": "<|startoftext|>"}, "eos_token": "<|endoftext|>"})";
    auto tok = Tokenizer::FromParts(model, config, "", "", "test");
    QVERIFY2(tok.ok(), tok.status().message().c_str());
    QCOMPARE((*tok)->vocab_size(), int64_t{1025});
    auto ids = (*tok)->Encode("a<|extra|>b", false).value();
    QVERIFY(std::find(ids.begin(), ids.end(), int64_t{1024}) != ids.end());
    QCOMPARE((*tok)->Decode(ids).value(), std::string("a<|extra|>b"));
  }

  void outOfRangeIdsAreInvalidArgument() {
    for (int64_t bad : {tok_->vocab_size(), tok_->vocab_size() + 100, int64_t{-1}}) {
      auto r = tok_->Decode({10, bad});
      QVERIFY(!r.ok());
      QCOMPARE(r.status().code(), ErrorCode::kInvalidArgument);
      QVERIFY(r.status().message().find(std::to_string(bad)) != std::string::npos);
      IncrementalDetokenizer d(*tok_);
      QCOMPARE(d.Push(bad).status().code(), ErrorCode::kInvalidArgument);
    }
  }

  void missingTokenizerModelIsNotFound() {
    QTemporaryDir empty;
    auto r = Tokenizer::Load(empty.path().toStdString());
    QVERIFY(!r.ok());
    QCOMPARE(r.status().code(), ErrorCode::kNotFound);
    QVERIFY(r.status().message().find("tokenizer.model") != std::string::npos);
  }

  void randomBytesAreRejectedWithAClearError() {
    std::mt19937 rng(42);
    for (size_t size :
         {size_t{0}, size_t{1}, size_t{7}, size_t{100}, size_t{4096}, size_t{20000}}) {
      for (int round = 0; round < 20; ++round) {
        std::string bytes(size, '\0');
        for (char& c : bytes) c = static_cast<char>(rng());
        auto r = Tokenizer::FromParts(bytes, "", "", "", "x/tokenizer.model");
        QVERIFY(!r.ok());
        QCOMPARE(r.status().code(), ErrorCode::kCorrupt);
        QVERIFY(r.status().message().find("tokenizer.model") != std::string::npos);
      }
    }
  }

  // A model cut short anywhere either fails to load, or (cut after its last essential
  // field) tokenizes exactly like the whole one: never a silently different vocabulary.
  void truncatedModelIsRejected() {
    const std::string model = ReadAll(model_dir_ + "/tokenizer.model");
    const auto reference = tok_->Encode(kText, false, Tokenizer::SpecialText::kPlain).value();
    int rejected = 0;
    for (size_t len = 0; len < model.size(); len += (len + 300 < model.size() ? 13 : 1)) {
      auto r = Tokenizer::FromParts(model.substr(0, len), "", "", "", "tokenizer.model");
      if (!r.ok()) {
        QCOMPARE(r.status().code(), ErrorCode::kCorrupt);
        ++rejected;
        continue;
      }
      QVERIFY2((*r)->Encode(kText, false, Tokenizer::SpecialText::kPlain).value() == reference,
               qPrintable(
                   QString("cut at %1 of %2 loaded a different model").arg(len).arg(model.size())));
    }
    QVERIFY(rejected > 100);
  }

  // Seeded byte flips anywhere in a real model: it loads (and then encodes and decodes
  // without crashing) or it is rejected; nothing crashes.
  void corruptedModelBytesNeverCrash() {
    const std::string model = ReadAll(model_dir_ + "/tokenizer.model");
    std::mt19937 rng(77);
    for (int round = 0; round < 300; ++round) {
      std::string bytes = model;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      auto r = Tokenizer::FromParts(bytes, "", "", "", "tokenizer.model");
      if (!r.ok()) {
        QVERIFY(r.status().message().find("tokenizer.model") != std::string::npos);
        continue;
      }
      auto ids = (*r)->Encode(kText, true);
      if (ids.ok()) QVERIFY((*r)->Decode(*ids).ok());
    }
  }

  void malformedConfigJsonIsNamed() {
    const std::string model = ReadAll(model_dir_ + "/tokenizer.model");
    auto r = Tokenizer::FromParts(model, "{not json", "", "", "m/tokenizer.model");
    QVERIFY(!r.ok());
    QVERIFY(r.status().message().find("tokenizer_config.json") != std::string::npos);
    auto unknown = Tokenizer::FromParts(model, R"({"eos_token": "<|nope|>"})", "", "", "m/x");
    QVERIFY(!unknown.ok());
    QVERIFY(unknown.status().message().find("<|nope|>") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
