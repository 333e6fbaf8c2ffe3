#include "ui/main_window.h"

#include <unistd.h>
#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDir>
#include <QDragEnterEvent>
#include <QFile>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QThread>
#include <QTimer>

#include "ui/chat_panel.h"
#include "ui/engine_worker.h"
#include "ui/import_worker.h"
#include "ui/library_model.h"
#include "ui/library_panel.h"
#include "ui/reader_view.h"
#include "ui/search_panel.h"
#include "ui/settings_dialog.h"
#include "ui/store_worker.h"
#include "ui/text_util.h"

namespace folio::ui {
namespace {

// Resident memory of this process, from /proc/self/statm (pages).
double ResidentBytes() {
  QFile f("/proc/self/statm");
  if (!f.open(QIODevice::ReadOnly)) return 0;
  const QList<QByteArray> parts = f.readAll().split(' ');
  return parts.size() > 1 ? parts[1].toDouble() * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0;
}

QThread* NewThread(const char* name, QObject* parent) {
  auto* t = new QThread(parent);
  t->setObjectName(name);
  return t;
}

}  // namespace

QString FindSamplesDir() {
  QStringList candidates;
  if (qEnvironmentVariableIsSet("FOLIO_SAMPLES_DIR"))
    candidates << qEnvironmentVariable("FOLIO_SAMPLES_DIR");
  candidates << QCoreApplication::applicationDirPath() + "/../share/folio/samples";
#ifdef FOLIO_SOURCE_SAMPLES_DIR
  candidates << QStringLiteral(FOLIO_SOURCE_SAMPLES_DIR);
#endif
  for (const auto& c : candidates) {
    QDir d(c);
    if (d.exists() && !d.entryList({"*.md", "*.txt", "*.pdf"}, QDir::Files).isEmpty())
      return d.canonicalPath();
  }
  return {};
}

MainWindow::MainWindow(const MainWindowOptions& options, QWidget* parent)
    : QMainWindow(parent), options_(options) {
  RegisterUiTypes();
  qRegisterMetaType<AppSettings>();
  setWindowTitle(tr("Folio"));
  setAcceptDrops(true);
  QSettings qs;
  settings_ = AppSettings::Load(qs);
  buildWidgets();
  buildActions();
  startWorkers();
  connectWorkers();
  QMetaObject::invokeMethod(store_, &StoreWorker::listDocuments, Qt::QueuedConnection);
  QMetaObject::invokeMethod(store_, &StoreWorker::listConversations, Qt::QueuedConnection);
  loadModel();
  auto* memoryTimer = new QTimer(this);
  connect(memoryTimer, &QTimer::timeout, this, &MainWindow::updateMemory);
  memoryTimer->start(1000);
  updateMemory();
  restoreGeometry(qs.value("window/geometry").toByteArray());
  if (!qs.contains("window/geometry")) resize(1400, 860);
}

MainWindow::~MainWindow() {
  shutdown();
}

void MainWindow::buildWidgets() {
  libraryModel_ = new LibraryModel(this);
  libraryPanel_ = new LibraryPanel(libraryModel_);
  libraryPanel_->setSamplesAvailable(!options_.samplesDir.isEmpty());
  search_ = new SearchPanel;
  tabs_ = new QTabWidget;
  tabs_->addTab(libraryPanel_, tr("&Library"));
  tabs_->addTab(search_, tr("&Search"));
  reader_ = new ReaderView;
  chat_ = new ChatPanel;
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(tabs_);
  split->addWidget(reader_);
  split->addWidget(chat_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 5);
  split->setStretchFactor(2, 4);
  split->setSizes({380, 560, 460});
  setCentralWidget(split);

  modelLabel_ = new QLabel;
  deviceLabel_ = new QLabel;
  memoryLabel_ = new QLabel;
  speedLabel_ = new QLabel(tr("last answer: —"));
  activityLabel_ = new QLabel;
  activity_ = new QProgressBar;
  activity_->setMaximumWidth(160);
  activity_->setRange(0, 1000);
  activity_->hide();
  statusBar()->addWidget(modelLabel_);
  statusBar()->addWidget(deviceLabel_);
  statusBar()->addWidget(memoryLabel_);
  statusBar()->addWidget(speedLabel_);
  statusBar()->addPermanentWidget(activityLabel_);
  statusBar()->addPermanentWidget(activity_);
}

void MainWindow::buildActions() {
  auto add = [this](QMenu* menu, const QString& text, const QKeySequence& key, auto slot) {
    auto* a = menu->addAction(text);
    a->setShortcut(key);
    a->setShortcutContext(Qt::WindowShortcut);
    connect(a, &QAction::triggered, this, slot);
    addAction(a);
    return a;
  };
  QMenu* file = menuBar()->addMenu(tr("&File"));
  add(file, tr("&Import files…"), QKeySequence::Open, [this] { chooseFilesToImport(); });
  add(file, tr("Import a &folder…"), QKeySequence(tr("Ctrl+Shift+O")), [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Import a folder"));
    if (!dir.isEmpty()) importPaths({dir});
  });
  add(file, tr("Add the &sample documents"), QKeySequence(), [this] { addSampleDocuments(); });
  file->addSeparator();
  add(file, tr("&Settings…"), QKeySequence(tr("Ctrl+,")), [this] { openSettings(); });
  file->addSeparator();
  add(file, tr("&Quit"), QKeySequence::Quit, [this] { close(); });

  QMenu* library = menuBar()->addMenu(tr("&Library"));
  add(library, tr("Show the &library"), QKeySequence(tr("Ctrl+1")), [this] { showLibrary(); });
  add(library, tr("&Remove selected"), QKeySequence::Delete, [this] { removeSelected(); });
  add(library, tr("Re-&import selected"), QKeySequence(tr("Ctrl+R")),
      [this] { reimportSelected(); });
  add(library, tr("&Check all documents"), QKeySequence(tr("Ctrl+Shift+A")),
      [this] { libraryModel_->setAllChecked(true); });
  add(library, tr("&Uncheck all documents"), QKeySequence(tr("Ctrl+Shift+U")),
      [this] { libraryModel_->setAllChecked(false); });

  QMenu* search = menuBar()->addMenu(tr("&Search"));
  add(search, tr("&Find in the library"), QKeySequence::Find, [this] { showSearch(); });

  QMenu* view = menuBar()->addMenu(tr("&View"));
  add(view, tr("Zoom &in"), QKeySequence::ZoomIn, [this] { reader_->zoomIn(); });
  add(view, tr("Zoom &out"), QKeySequence::ZoomOut, [this] { reader_->zoomOut(); });

  QMenu* chat = menuBar()->addMenu(tr("&Chat"));
  add(chat, tr("&Ask a question"), QKeySequence(tr("Ctrl+L")), [this] { chat_->focusInput(); });
  add(chat, tr("&New conversation"), QKeySequence::New, [this] { chat_->newConversation(); });
  add(chat, tr("&Stop the answer"), QKeySequence(Qt::Key_Escape), [this] { stopAnswer(); });

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  add(help, tr("&About Folio"), QKeySequence(), [this] {
    QMessageBox::about(
        this, tr("About Folio"),
        tr("<b>Folio %1</b><p>Answers from your own documents, with the pages "
           "they came from.</p><p>Library: %2</p>")
            .arg(QCoreApplication::applicationVersion(), options_.libraryPath.toHtmlEscaped()));
  });
}

void MainWindow::startWorkers() {
  storeThread_ = NewThread("folio-store", this);
  importThread_ = NewThread("folio-import", this);
  engineThread_ = NewThread("folio-engine", this);
  store_ = new StoreWorker(options_.libraryPath);
  importer_ = new ImportWorker(options_.libraryPath);
  engine_ = new EngineWorker(options_.libraryPath);
  store_->moveToThread(storeThread_);
  importer_->moveToThread(importThread_);
  engine_->moveToThread(engineThread_);
  storeThread_->start();
  importThread_->start();
  engineThread_->start();
}

void MainWindow::connectWorkers() {
  // Library listing and removal.
  connect(store_, &StoreWorker::documentsListed, this, &MainWindow::onDocumentsListed);
  connect(store_, &StoreWorker::failed, this,
          [this](const QString& m) { statusBar()->showMessage(m, 10000); });
  connect(store_, &StoreWorker::documentRemoved, this, [this](qint64, const QString& error) {
    if (!error.isEmpty()) statusBar()->showMessage(error, 10000);
  });
  connect(libraryPanel_, &LibraryPanel::importRequested, this, &MainWindow::chooseFilesToImport);
  connect(libraryPanel_, &LibraryPanel::addSamplesRequested, this, &MainWindow::addSampleDocuments);
  connect(libraryPanel_, &LibraryPanel::removeRequested, this, &MainWindow::removeSelected);
  connect(libraryPanel_, &LibraryPanel::reimportRequested, this, &MainWindow::reimportSelected);
  connect(libraryPanel_, &LibraryPanel::openRequested, this,
          [this](qint64 id) { openInReader(id, 1, {}); });

  // Import progress.
  connect(importer_, &ImportWorker::queued, libraryModel_, &LibraryModel::importQueued);
  connect(importer_, &ImportWorker::fileStarted, this, [this](const QString& path, int i, int n) {
    libraryModel_->importStarted(path);
    activityLabel_->setText(tr("Importing %1 of %2").arg(i + 1).arg(n));
  });
  connect(importer_, &ImportWorker::pageProgress, libraryModel_, &LibraryModel::importProgress);
  connect(importer_, &ImportWorker::fileFinished, this,
          [this](const QString& path, const QString& outcome, qint64, const QString& error) {
            libraryModel_->importFinished(path);
            if (outcome == "failed") {
              statusBar()->showMessage(tr("%1: %2").arg(QFileInfo(path).fileName(), error), 15000);
            }
            QMetaObject::invokeMethod(store_, &StoreWorker::listDocuments, Qt::QueuedConnection);
          });
  connect(importer_, &ImportWorker::batchFinished, this, [this](int added, int failed, bool) {
    importing_ = false;
    libraryModel_->clearPending();
    activityLabel_->setText(failed > 0 ? tr("Imported %1, %2 failed").arg(added).arg(failed)
                                       : tr("Imported %1").arg(added));
    if (model_.loaded) embedChunks();  // the new passages get vectors (a no-op when none lack one)
  });

  // Search.
  connect(search_, &SearchPanel::searchRequested, this, [this](const QString& text, int gen) {
    QMetaObject::invokeMethod(store_, "search", Qt::QueuedConnection, Q_ARG(QString, text),
                              Q_ARG(QList<qint64>, QList<qint64>{}), Q_ARG(int, gen));
  });
  connect(store_, &StoreWorker::searchFinished, search_, &SearchPanel::showResults);
  connect(search_, &SearchPanel::resultActivated, this, [this](const SearchResult& r) {
    QStringList marks{FirstWords(r.snippet, 8)};
    marks += r.words;
    openInReader(r.docId, r.page, marks);
  });
  connect(store_, &StoreWorker::readerDocumentLoaded, reader_, &ReaderView::showDocument);

  // Chat.
  connect(chat_, &ChatPanel::askRequested, this, [this](const QString& q, qint64 conversation) {
    speedLabel_->setText(tr("answering…"));
    engine_->interruptEmbedding();  // questions first; the job resumes after the answer
    QMetaObject::invokeMethod(engine_, "ask", Qt::QueuedConnection, Q_ARG(QString, q),
                              Q_ARG(QList<qint64>, libraryModel_->checkedIds()),
                              Q_ARG(qint64, conversation));
  });
  connect(chat_, &ChatPanel::stopRequested, this, &MainWindow::stopAnswer);
  connect(engine_, &EngineWorker::pieceReceived, chat_, &ChatPanel::appendPiece);
  connect(engine_, &EngineWorker::contextUsed, chat_, &ChatPanel::setContextUsage);
  connect(engine_, &EngineWorker::answerFinished, this, &MainWindow::onAnswerFinished);
  connect(chat_, &ChatPanel::citationActivated, this, [this](const Citation& c) {
    QStringList marks;
    if (!c.quote.isEmpty()) marks << FirstWords(c.quote, 8);
    openInReader(c.docId, c.page, marks);
  });
  connect(chat_, &ChatPanel::conversationChosen, this, [this](qint64 id) {
    QMetaObject::invokeMethod(store_, "loadConversation", Qt::QueuedConnection, Q_ARG(qint64, id));
  });
  connect(store_, &StoreWorker::conversationsListed, chat_, &ChatPanel::setConversations);
  connect(store_, &StoreWorker::conversationLoaded, this,
          [this](qint64 id, const QList<qint64>&, const QList<ChatTurn>& turns) {
            chat_->showConversation(id, turns);
          });

  // Model loading.
  connect(engine_, &EngineWorker::modelLoadProgress, this, [this](double f, const QString& stage) {
    activity_->show();
    activity_->setValue(static_cast<int>(f * 1000));
    activityLabel_->setText(tr("Loading the model: %1").arg(stage));
  });
  connect(engine_, &EngineWorker::modelLoaded, this, &MainWindow::onModelLoaded);

  // Passage embeddings (issue 7), computed on the engine thread between answers.
  connect(engine_, &EngineWorker::embeddingProgress, this, [this](qint64 done, qint64 total) {
    if (importing_ || modelLoading_) return;  // their progress matters more
    activityLabel_->setText(done < total ? tr("Embedding passages %1/%2").arg(done).arg(total)
                                         : QString());
  });
  connect(engine_, &EngineWorker::embeddingFinished, this, [this](const QString& error) {
    if (activityLabel_->text().startsWith(tr("Embedding passages"))) activityLabel_->clear();
    if (!error.isEmpty()) {
      statusBar()->showMessage(tr("Passages could not be embedded: %1").arg(error), 15000);
    }
  });
}

void MainWindow::embedChunks() {
  if (engine_) QMetaObject::invokeMethod(engine_, &EngineWorker::embedChunks, Qt::QueuedConnection);
}

void MainWindow::shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  QSettings().setValue("window/geometry", saveGeometry());
  // Flags first (a running answer or import returns at its next check), then join.
  if (importer_) importer_->cancel();
  if (engine_) engine_->shutdown();
  reader_->shutdown();
  for (QThread* t : {importThread_, engineThread_, storeThread_}) {
    if (!t) continue;
    t->quit();
    t->wait();
  }
  delete importer_;
  delete engine_;
  delete store_;
  importer_ = nullptr;
  engine_ = nullptr;
  store_ = nullptr;
}

void MainWindow::closeEvent(QCloseEvent* e) {
  shutdown();
  e->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasUrls()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  QStringList paths;
  for (const QUrl& u : e->mimeData()->urls()) {
    if (u.isLocalFile()) paths << u.toLocalFile();
  }
  if (!paths.isEmpty()) {
    importPaths(paths);
    e->acceptProposedAction();
  }
}

void MainWindow::importPaths(const QStringList& paths) {
  if (paths.isEmpty() || !importer_) return;
  importing_ = true;
  showLibrary();
  activityLabel_->setText(tr("Importing…"));
  QMetaObject::invokeMethod(importer_, "importPaths", Qt::QueuedConnection,
                            Q_ARG(QStringList, paths));
}

void MainWindow::addSampleDocuments() {
  if (options_.samplesDir.isEmpty()) {
    return statusBar()->showMessage(tr("The sample documents are not installed."), 10000);
  }
  importPaths({options_.samplesDir});
}

void MainWindow::chooseFilesToImport() {
  const QStringList files =
      QFileDialog::getOpenFileNames(this, tr("Import documents"), QString(),
                                    tr("Documents (*.pdf *.txt *.md *.markdown);;All files (*)"));
  importPaths(files);
}

void MainWindow::removeSelected() {
  const QList<qint64> ids = libraryPanel_->selectedIds();
  if (ids.isEmpty()) return;
  const auto answer = QMessageBox::question(
      this, tr("Remove documents"),
      tr("Remove %n document(s) from the library? The files stay where they are.", nullptr,
         static_cast<int>(ids.size())));
  if (answer != QMessageBox::Yes) return;
  for (qint64 id : ids) {
    QMetaObject::invokeMethod(store_, "removeDocument", Qt::QueuedConnection, Q_ARG(qint64, id));
  }
}

void MainWindow::reimportSelected() {
  importPaths(libraryPanel_->selectedPaths());
}

void MainWindow::showSearch() {
  tabs_->setCurrentWidget(search_);
  search_->focusQuery();
}

void MainWindow::showLibrary() {
  tabs_->setCurrentWidget(libraryPanel_);
}

void MainWindow::openInReader(qint64 docId, int page, const QStringList& highlights) {
  QMetaObject::invokeMethod(store_, "loadForReader", Qt::QueuedConnection, Q_ARG(qint64, docId),
                            Q_ARG(int, page), Q_ARG(QStringList, highlights));
}

void MainWindow::stopAnswer() {
  if (engine_ && chat_->answering()) engine_->stopAnswer();
}

void MainWindow::openSettings() {
  SettingsDialog dialog(settings_, this);
  if (dialog.exec() == QDialog::Accepted) applySettings(dialog.settings());
}

void MainWindow::applySettings(const AppSettings& s) {
  // Sampling is read when the model is loaded, so any change reloads (cheap once mapped).
  const bool reload = !(s == settings_) || !model_.loaded;
  settings_ = s;
  QSettings qs;
  settings_.Save(qs);
  if (reload) loadModel();
}

void MainWindow::loadModel() {
  modelLoading_ = true;
  modelLabel_->setText(settings_.modelDir.isEmpty() ? tr("No model") : tr("Loading the model…"));
  engine_->interruptEmbedding();  // the old model's job must not delay the new load
  QMetaObject::invokeMethod(engine_, "loadModel", Qt::QueuedConnection,
                            Q_ARG(folio::ui::AppSettings, settings_));
}

void MainWindow::onModelLoaded(const ModelStatus& status) {
  modelLoading_ = false;
  model_ = status;
  activity_->hide();
  activityLabel_->clear();
  if (status.loaded) {
    modelLabel_->setText(tr("Model: %1").arg(status.name));
    modelLabel_->setToolTip(status.detail);
    deviceLabel_->setText(tr("Device: %1").arg(status.device));
    chat_->setModelState(true, status.name + " (" + status.detail + ")");
    embedChunks();
  } else {
    modelLabel_->setText(status.error.isEmpty() ? tr("No model (quoted answers)")
                                                : tr("Model not loaded"));
    modelLabel_->setToolTip(status.error);
    deviceLabel_->setText(tr("Device: —"));
    chat_->setModelState(false, {});
    if (!status.error.isEmpty()) {
      statusBar()->showMessage(tr("The model could not be loaded: %1").arg(status.error), 30000);
    }
  }
}

void MainWindow::onAnswerFinished(qint64 conversationId, const AnswerInfo& info) {
  chat_->answerFinished(conversationId, info);
  speedLabel_->setText(info.mode == "extractive"
                           ? tr("last answer: quotes")
                           : tr("last answer: %1 tokens/s").arg(info.tokensPerSecond, 0, 'f', 1));
  QMetaObject::invokeMethod(store_, &StoreWorker::listConversations, Qt::QueuedConnection);
}

void MainWindow::onDocumentsListed(const QList<DocRow>& rows) {
  ++listings_;
  libraryModel_->setDocuments(rows);
  chat_->setDocuments(rows);
}

void MainWindow::updateMemory() {
  memoryLabel_->setText(tr("Memory: %1").arg(HumanBytes(ResidentBytes())));
}

QString MainWindow::statusText() const {
  return QStringList{modelLabel_->text(), deviceLabel_->text(),   memoryLabel_->text(),
                     speedLabel_->text(), activityLabel_->text(), statusBar()->currentMessage()}
      .join(" | ");
}

}  // namespace folio::ui
