// The desktop app driven as a person would: import through the library model, search and
// click a result, ask with the tiny model and stop, click citations, change settings,
// choose a bad model folder. Longest UI-thread stalls are printed, not asserted.
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QLineEdit>
#include <QListView>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <cstdio>

#include "common/pdf_writer.h"
#include "docstore/store.h"
#include "engine/tiny_model.h"
#include "ui/chat_panel.h"
#include "ui/library_model.h"
#include "ui/main_window.h"
#include "ui/reader_view.h"
#include "ui/search_panel.h"
#include "ui/settings_dialog.h"
#include "ui/text_util.h"
#include "ui_test_util.h"

using namespace folio::ui;
using folio::ui::testing::ClickLink;
using folio::ui::testing::ClickRow;
using folio::ui::testing::OpenWindow;
using folio::ui::testing::StallMeter;

namespace {

constexpr int kLong = 120000;  // ms: generous, for a loaded 2-core CI machine

// `n` pages of filler; page `special` (1-based) also carries `word`.
std::vector<std::string> Pages(int n, int special, const std::string& word) {
  std::vector<std::string> pages;
  for (int p = 1; p <= n; ++p) {
    std::string text = "Page " + std::to_string(p) + " of the field notes. ";
    for (int i = 0; i < 20; ++i) text += "The weather was mild and the river ran slowly. ";
    if (p == special) text += "On this day we saw a " + word + " near the water. ";
    pages.push_back(text);
  }
  return pages;
}

QString WritePdf(const QTemporaryDir& dir, const QString& name,
                 const std::vector<std::string>& pages, const std::string& title) {
  const QString path = dir.filePath(name);
  folio::testing::PdfSpec spec;
  spec.pages = pages;
  spec.title = title;
  if (!folio::testing::WriteBytes(path.toStdString(), folio::testing::MakePdf(spec))) return {};
  return path;
}

}  // namespace

class UiAppTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase();
  void init() { QSettings().clear(); }  // each test starts from the defaults
  void importThroughTheLibraryShowsProgressThenTheDocument();
  void clickingASearchResultMovesTheReaderToItsPage();
  void tinyModelAnswerStreamsAndStopEndsIt();
  void reopenedConversationCitationOpensItsPage();
  void extractiveAnswerWithoutModelIsLabelledAndCitesPages();
  void settingsPersistAcrossRestarts();
  void badModelFolderShowsAnErrorAndTheAppStaysUsable();
  void closingMidAnswerAndMidImportStopsTheWorkersCleanly();
  void importWithAModelLoadedEmbedsEveryPassageInTheBackground();

 private:
  QTemporaryDir tmp_;
  QString model_;
};

void UiAppTest::initTestCase() {
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName("FolioUiTest");
  QCoreApplication::setApplicationName("test_ui_app");
  QSettings().clear();
  QVERIFY(tmp_.isValid());
  // The assistant's document-state cache goes under XDG_CACHE_HOME: keep it in the test's folder.
  qputenv("XDG_CACHE_HOME", tmp_.filePath("cache").toUtf8());
  model_ = tmp_.filePath("tiny-model");
  auto made = folio::MakeTinyModel(model_.toStdString(), 7);
  QVERIFY2(made.ok(), made.status().message().c_str());
}

void UiAppTest::importThroughTheLibraryShowsProgressThenTheDocument() {
  QTemporaryDir dir;
  const QString pdf = WritePdf(dir, "notes.pdf", Pages(40, 7, "heron"), "Field Notes");
  QVERIFY(!pdf.isEmpty());
  auto w = OpenWindow(dir.filePath("library.sqlite"));
  LibraryModel* model = w->libraryModel();
  QCOMPARE(model->rowCount(), 0);

  // Record what the model shows while the file imports.
  QStringList statuses;
  double maxProgress = -1;
  auto record = [&] {
    for (int r = 0; r < model->rowCount(); ++r) {
      const QModelIndex i = model->index(r, LibraryModel::kStatus);
      const QString s = i.data(LibraryModel::StatusRole).toString();
      if (!statuses.contains(s)) statuses << s;
      maxProgress = std::max(maxProgress, i.data(LibraryModel::ProgressRole).toDouble());
    }
  };
  connect(model, &QAbstractItemModel::rowsInserted, this, record);
  connect(model, &QAbstractItemModel::dataChanged, this, record);

  StallMeter stall;
  stall.start();
  w->importPaths({pdf});
  QVERIFY(QTest::qWaitFor([&] { return model->documentCount() == 1 && !w->importing(); }, kLong));
  std::printf("longest UI-thread stall during an import: %.1f ms\n", stall.longestMs());
  QVERIFY2(statuses.contains("importing"), qPrintable(statuses.join(",")));
  QCOMPARE(maxProgress, 1.0);  // the bar reached the last page before the row became the document
  QCOMPARE(model->importingCount(), 0);
  const QModelIndex title = model->index(0, LibraryModel::kTitle);
  QCOMPARE(title.data(LibraryModel::TitleRole).toString(), QString("Field Notes"));
  QCOMPARE(title.data(LibraryModel::PagesRole).toInt(), 40);
  QCOMPARE(title.data(LibraryModel::StatusRole).toString(), QString("ready"));
  QVERIFY(title.data(LibraryModel::TokensRole).toLongLong() > 0);
  QCOMPARE(title.data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);
}

void UiAppTest::clickingASearchResultMovesTheReaderToItsPage() {
  QTemporaryDir dir;
  const QString pdf = WritePdf(dir, "diary.pdf", Pages(6, 4, "quagga"), "Diary");
  auto w = OpenWindow(dir.filePath("library.sqlite"));
  w->importPaths({pdf});
  QVERIFY(QTest::qWaitFor(
      [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));

  w->showSearch();
  QTest::keyClicks(QApplication::focusWidget(), "quagga");
  SearchPanel* search = w->searchPanel();
  QVERIFY(QTest::qWaitFor([&] { return search->model()->rowCount() > 0; }, kLong));
  QCOMPARE(search->model()->index(0).data(SearchResultsModel::PageRole).toInt(), 4);

  ClickRow(search->view(), 0);
  ReaderView* reader = w->reader();
  QVERIFY(
      QTest::qWaitFor([&] { return reader->documentId() != 0 && reader->showingPdf(); }, kLong));
  QVERIFY(QTest::qWaitFor([&] { return reader->pageImageReady(4) && reader->highlightCount() > 0; },
                          kLong));
  QCOMPARE(reader->currentPage(), 4);
}

void UiAppTest::tinyModelAnswerStreamsAndStopEndsIt() {
  QTemporaryDir dir;
  const QString pdf = WritePdf(dir, "log.pdf", Pages(3, 2, "sextant"), "Ship Log");
  auto w = OpenWindow(dir.filePath("library.sqlite"));
  w->importPaths({pdf});
  QVERIFY(QTest::qWaitFor(
      [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));

  AppSettings s = w->settings();
  s.modelDir = model_;
  s.device = "cpu";
  s.threads = 1;
  s.contextLength = 4096;
  s.maxNewTokens = 1000;
  s.greedy = false;
  s.temperature = 1.0;
  s.repetitionPenalty = 1.0;
  w->applySettings(s);
  QVERIFY(QTest::qWaitFor([&] { return !w->modelLoading(); }, kLong));
  QVERIFY2(w->modelStatus().loaded, qPrintable(w->modelStatus().error));
  QVERIFY(w->statusText().contains("tiny-model"));

  ChatPanel* chat = w->chat();
  // A random model may end on its own before Stop lands; try a few seeds.
  bool stopped = false;
  double stall_ms = 0;
  for (int attempt = 0; attempt < 5 && !stopped; ++attempt) {
    StallMeter stall;
    stall.start();
    chat->ask(QStringLiteral("What did they see near the water?"));
    QVERIFY(chat->answering());
    QVERIFY(QTest::qWaitFor(
        [&] { return !chat->turns().back().answer.isEmpty() || !chat->answering(); }, kLong));
    if (chat->answering()) {
      QVERIFY(chat->stopButton()->isEnabled());
      QTest::mouseClick(chat->stopButton(), Qt::LeftButton);
    }
    QVERIFY(QTest::qWaitFor([&] { return !chat->answering(); }, kLong));
    stall_ms = std::max(stall_ms, stall.longestMs());
    const AnswerInfo& info = chat->turns().back().info;
    QVERIFY2(info.error.isEmpty(), qPrintable(info.error));
    QCOMPARE(info.mode, QString("whole"));
    QVERIFY(info.contextTokens > 0);
    QCOMPARE(info.contextMax, qint64{4096});
    QVERIFY(!chat->turns().back().answer.isEmpty());  // it streamed into the chat
    stopped = info.stopped;
    if (stopped) QVERIFY(info.generatedTokens < 1000);
  }
  std::printf("longest UI-thread stall during an answer: %.1f ms\n", stall_ms);
  QVERIFY(stopped);
  QVERIFY(chat->transcriptText().contains("(stopped)"));
  QVERIFY(chat->contextMeter()->text().contains("4,096") ||
          chat->contextMeter()->text().contains("4096"));
  QVERIFY(!w->statusText().contains("answering"));
}

void UiAppTest::reopenedConversationCitationOpensItsPage() {
  QTemporaryDir dir;
  const QString pdf = WritePdf(dir, "atlas.pdf", Pages(5, 3, "okapi"), "Atlas");
  const QString lib = dir.filePath("library.sqlite");
  qint64 docId = 0;
  {  // A stored conversation whose answer cites page 3.
    auto w = OpenWindow(lib);
    w->importPaths({pdf});
    QVERIFY(QTest::qWaitFor(
        [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));
    docId = w->libraryModel()->index(0, 0).data(LibraryModel::DocIdRole).toLongLong();
  }
  {
    auto store = folio::docstore::Library::Open(lib.toStdString());
    QVERIFY(store.ok());
    auto conv = (*store)->CreateConversation("Where is the okapi?", {docId});
    QVERIFY(conv.ok());
    QVERIFY((*store)->AppendMessage(*conv, "user", "Where is the okapi?").ok());
    AnswerInfo info;
    info.mode = "whole";
    QVERIFY((*store)
                ->AppendMessage(*conv, "assistant", "The okapi appears on [p. 3].",
                                AnswerInfoToJson(info).toStdString())
                .ok());
  }
  auto w = OpenWindow(lib);
  ChatPanel* chat = w->chat();
  auto* picker = chat->findChild<QComboBox*>();
  QVERIFY(picker);
  QVERIFY(QTest::qWaitFor([&] { return picker->count() == 2; }, kLong));  // "New" + the stored one
  picker->setFocus();
  QTest::keyClick(picker, Qt::Key_Down);  // picks the stored conversation, as a person would
  QVERIFY(QTest::qWaitFor([&] { return chat->turns().size() == 1; }, kLong));
  QVERIFY(chat->transcriptText().contains("okapi appears"));
  const QList<QUrl> links = chat->links();
  QCOMPARE(links.size(), 1);
  const auto citation = CitationFromUrl(links.front());
  QVERIFY(citation);
  QCOMPARE(citation->page, 3);
  QVERIFY(ClickLink(chat->transcript(), links.front()));
  QVERIFY(QTest::qWaitFor([&] { return w->reader()->documentId() == docId; }, kLong));
  QVERIFY(QTest::qWaitFor([&] { return w->reader()->pageImageReady(3); }, kLong));
  QCOMPARE(w->reader()->currentPage(), 3);
}

void UiAppTest::extractiveAnswerWithoutModelIsLabelledAndCitesPages() {
  QTemporaryDir dir;
  QFile md(dir.filePath("birds.md"));
  QVERIFY(md.open(QIODevice::WriteOnly));
  QByteArray text = "# Birds of the estuary\n\n";
  for (int i = 0; i < 60; ++i)
    text += "Gulls and terns gather over the mudflats at low tide, every day.\n\n";
  text += "The avocet sweeps its upturned bill through the shallow water to feed.\n\n";
  md.write(text);
  md.close();
  auto w = OpenWindow(dir.filePath("library.sqlite"));
  QVERIFY(!w->modelStatus().loaded);
  w->importPaths({md.fileName()});
  QVERIFY(QTest::qWaitFor(
      [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));
  const int pages = w->libraryModel()->index(0, 0).data(LibraryModel::PagesRole).toInt();
  QVERIFY(pages >= 2);  // the avocet is on the last page

  ChatPanel* chat = w->chat();
  QTest::keyClicks(chat->input(), "How does the avocet feed?");
  QTest::keyClick(chat->input(), Qt::Key_Return);
  QVERIFY(QTest::qWaitFor([&] { return !chat->answering() && !chat->turns().isEmpty(); }, kLong));
  const AnswerInfo& info = chat->turns().back().info;
  QCOMPARE(info.mode, QString("extractive"));
  QVERIFY(chat->transcriptText().contains("Quoted passages"));
  QVERIFY(chat->transcriptText().contains("Settings"));  // says how to add a model
  QVERIFY(!info.citations.isEmpty());
  QCOMPARE(info.citations.front().page, pages);
  QVERIFY(ClickLink(chat->transcript(), CitationUrl(info.citations.front())) ||
          ClickLink(chat->transcript(), chat->links().front()));
  QVERIFY(QTest::qWaitFor([&] { return w->reader()->documentId() != 0; }, kLong));
  QVERIFY(!w->reader()->showingPdf());
  QCOMPARE(w->reader()->currentPage(), pages);
  QVERIFY(w->reader()->highlightCount() > 0);
}

void UiAppTest::settingsPersistAcrossRestarts() {
  QTemporaryDir dir;
  AppSettings s;
  s.device = "cpu";
  s.threads = 3;
  s.contextLength = 2048;
  s.maxNewTokens = 77;
  s.greedy = true;
  s.temperature = 0.35;
  s.topP = 0.8;
  s.topK = 12;
  s.repetitionPenalty = 1.25;
  s.seed = 4242;
  {
    auto w = OpenWindow(dir.filePath("library.sqlite"));
    w->applySettings(s);
  }
  QSettings qs;
  QCOMPARE(AppSettings::Load(qs), s);
  auto w = OpenWindow(dir.filePath("library.sqlite"));
  QCOMPARE(w->settings(), s);
  QSettings().clear();
}

void UiAppTest::badModelFolderShowsAnErrorAndTheAppStaysUsable() {
  QTemporaryDir dir;
  QDir().mkpath(dir.filePath("bad-model"));
  QFile cfg(dir.filePath("bad-model/config.json"));
  QVERIFY(cfg.open(QIODevice::WriteOnly));
  cfg.write("{\"architectures\": [\"JambaForCausalLM\"], \"hidden_size\": -5");
  cfg.close();

  auto w = OpenWindow(dir.filePath("library.sqlite"));
  {
    SettingsDialog dialog(w->settings(), w.get());
    dialog.show();
    dialog.setModelDir(dir.filePath("bad-model"));
    QVERIFY(QTest::qWaitFor([&] { return !dialog.validating(); }, kLong));
    QVERIFY(!dialog.modelError().isEmpty());
    QVERIFY(!dialog.acceptable());
    dialog.setModelDir(model_);  // a good one is described
    QVERIFY(QTest::qWaitFor([&] { return !dialog.validating(); }, kLong));
    QVERIFY2(dialog.modelError().isEmpty(), qPrintable(dialog.modelError()));
    QVERIFY(dialog.modelSummary().contains("JambaForCausalLM"));
    QVERIFY(dialog.modelSummary().contains("Needs about"));
  }
  // A saved folder that went bad: loading fails, says why, and answers still come.
  AppSettings s = w->settings();
  s.modelDir = dir.filePath("bad-model");
  w->applySettings(s);
  QVERIFY(QTest::qWaitFor([&] { return !w->modelLoading(); }, kLong));
  QVERIFY(!w->modelStatus().loaded);
  QVERIFY(!w->modelStatus().error.isEmpty());
  QVERIFY(w->statusText().contains("could not be loaded"));
  const QString md = dir.filePath("note.md");
  QFile f(md);
  QVERIFY(f.open(QIODevice::WriteOnly));
  f.write("# Note\n\nThe lighthouse keeper lit the lamp at dusk.\n");
  f.close();
  w->importPaths({md});
  QVERIFY(QTest::qWaitFor(
      [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));
  w->chat()->ask("When was the lamp lit?");
  QVERIFY(QTest::qWaitFor([&] { return !w->chat()->answering(); }, kLong));
  QCOMPARE(w->chat()->turns().back().info.mode, QString("extractive"));
  QVERIFY(w->chat()->transcriptText().contains("lighthouse keeper"));
  QSettings().clear();
}

void UiAppTest::closingMidAnswerAndMidImportStopsTheWorkersCleanly() {
  QTemporaryDir dir;
  const QString lib = dir.filePath("library.sqlite");
  const QString small = WritePdf(dir, "small.pdf", Pages(2, 1, "ibis"), "Small");
  const QString big = WritePdf(dir, "big.pdf", Pages(400, 300, "egret"), "Big");
  {
    auto w = OpenWindow(lib);
    w->importPaths({small});
    QVERIFY(QTest::qWaitFor(
        [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));
    AppSettings s = w->settings();
    s.modelDir = model_;
    s.device = "cpu";
    s.threads = 1;
    s.contextLength = 4096;
    s.maxNewTokens = 2000;
    s.repetitionPenalty = 1.0;
    w->applySettings(s);
    QVERIFY(QTest::qWaitFor([&] { return !w->modelLoading(); }, kLong));
    QVERIFY(w->modelStatus().loaded);
    w->chat()->ask("Where was the ibis?");
    w->importPaths({big});
    QVERIFY(QTest::qWaitFor([&] { return w->libraryModel()->importingCount() > 0; }, kLong));
    const bool answering = w->chat()->answering();  // a random model may have ended already
    QElapsedTimer closing;
    closing.start();
    w->close();  // stops the workers and joins their threads
    std::printf("closing mid-import%s took %lld ms\n", answering ? " and mid-answer" : "",
                static_cast<long long>(closing.elapsed()));
  }
  // The library is whole: the small document, and the big one entirely or not at all.
  auto store = folio::docstore::Library::Open(lib.toStdString());
  QVERIFY(store.ok());
  QVERIFY((*store)->CheckIntegrity().ok());
  auto docs = (*store)->ListDocuments();
  QVERIFY(docs.ok());
  QVERIFY(docs->size() == 1 || docs->size() == 2);
  for (const auto& d : *docs) QCOMPARE(d.pages, d.title == "Big" ? 400 : 2);
}

// (chunks, chunks with a vector) in the library; -1s when it cannot be read.
std::pair<int64_t, int64_t> ChunksAndEmbedded(folio::docstore::Library& lib) {
  auto count = [&](const char* sql) -> int64_t {
    auto st = lib.database().PrepareUncached(sql);
    if (!st.ok()) return -1;
    auto row = st->Step();
    return row.ok() && *row ? st->ColumnInt64(0) : -1;
  };
  return {count("SELECT COUNT(*) FROM chunks"),
          count("SELECT COUNT(DISTINCT chunk_id) FROM chunk_embeddings")};
}

void UiAppTest::importWithAModelLoadedEmbedsEveryPassageInTheBackground() {
  QTemporaryDir dir;
  const QString lib = dir.filePath("library.sqlite");
  const QString pdf = WritePdf(dir, "diary.pdf", Pages(12, 5, "kestrel"), "Diary");
  auto w = OpenWindow(lib);
  AppSettings s = w->settings();
  s.modelDir = model_;
  s.device = "cpu";
  s.threads = 1;
  s.contextLength = 4096;
  s.maxNewTokens = 20;
  w->applySettings(s);
  QVERIFY(QTest::qWaitFor([&] { return !w->modelLoading(); }, kLong));
  QVERIFY2(w->modelStatus().loaded, qPrintable(w->modelStatus().error));

  w->importPaths({pdf});
  QVERIFY(QTest::qWaitFor(
      [&] { return w->libraryModel()->documentCount() == 1 && !w->importing(); }, kLong));
  // A question right away interrupts the job (if it is still running); it is answered.
  ChatPanel* chat = w->chat();
  chat->ask(QStringLiteral("What flew over the field?"));
  QVERIFY(QTest::qWaitFor([&] { return !chat->answering(); }, kLong));
  QVERIFY2(chat->turns().back().info.error.isEmpty(), qPrintable(chat->turns().back().info.error));

  // The job resumes after the answer and gives every chunk one vector.
  auto store = folio::docstore::Library::Open(lib.toStdString());
  QVERIFY(store.ok());
  std::pair<int64_t, int64_t> counts;
  QVERIFY(QTest::qWaitFor(
      [&] {
        counts = ChunksAndEmbedded(**store);
        return counts.first > 0 && counts.second == counts.first;
      },
      kLong));
  QVERIFY(!w->statusText().contains("Embedding passages"));

  // Still usable: another answer, and no vector is added twice.
  chat->ask(QStringLiteral("Where was the kestrel?"));
  QVERIFY(QTest::qWaitFor([&] { return !chat->answering(); }, kLong));
  QVERIFY(chat->turns().back().info.error.isEmpty());
  QCOMPARE(ChunksAndEmbedded(**store), counts);
}

QTEST_MAIN(UiAppTest)
#include "test_ui_app.moc"
