// Folio's main window: the library and search panels on the left, the reader in the
// middle, the chat on the right, a status bar with the model, device, memory and the last
// answer's speed. Import, search, model loading and answers run on worker threads
// (ImportWorker, StoreWorker, EngineWorker, the reader's RenderWorker), each with its own
// Library connection; the UI thread only sends them queued calls and never waits.
// Closing the window stops them (cancel flags), then joins their threads.
#pragma once

#include <QMainWindow>
#include <QStringList>
#include <memory>

#include "ui/app_settings.h"
#include "ui/ui_types.h"

class QLabel;
class QProgressBar;
class QSettings;
class QTabWidget;
class QThread;

namespace folio::ui {

class ChatPanel;
class EngineWorker;
class ImportWorker;
class LibraryModel;
class LibraryPanel;
class ReaderView;
class SearchPanel;
class StoreWorker;

struct MainWindowOptions {
  QString libraryPath;  // the library file (resolved from --library / FOLIO_LIBRARY)
  QString samplesDir;   // "" = none found
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const MainWindowOptions& options, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Stops every worker and joins its thread (idempotent; closeEvent calls it).
  void shutdown();

  // What the actions do, callable from tests and the screenshot tour.
  void importPaths(const QStringList& paths);
  void addSampleDocuments();
  void applySettings(const AppSettings& s);  // saves them and (re)loads the model
  void openSettings();
  void showSearch();
  void showLibrary();
  void openInReader(qint64 docId, int page, const QStringList& highlights);
  void stopAnswer();

  LibraryModel* libraryModel() const { return libraryModel_; }
  LibraryPanel* libraryPanel() const { return libraryPanel_; }
  SearchPanel* searchPanel() const { return search_; }
  ReaderView* reader() const { return reader_; }
  ChatPanel* chat() const { return chat_; }
  const AppSettings& settings() const { return settings_; }
  const ModelStatus& modelStatus() const { return model_; }
  bool modelLoading() const { return modelLoading_; }
  bool importing() const { return importing_; }
  int documentsListed() const { return listings_; }  // listings received (tests wait on it)
  QString statusText() const;                        // the status bar's labels, joined

 protected:
  void closeEvent(QCloseEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void buildWidgets();
  void buildActions();
  void startWorkers();
  void connectWorkers();
  void loadModel();
  void embedChunks();  // queues the engine's passage-embedding job (issue 7)
  void chooseFilesToImport();
  void removeSelected();
  void reimportSelected();
  void onDocumentsListed(const QList<DocRow>& rows);
  void onModelLoaded(const ModelStatus& status);
  void onAnswerFinished(qint64 conversationId, const AnswerInfo& info);
  void updateMemory();

  MainWindowOptions options_;
  AppSettings settings_;
  ModelStatus model_;
  bool modelLoading_ = false;
  bool importing_ = false;
  bool shutDown_ = false;
  int listings_ = 0;

  LibraryModel* libraryModel_ = nullptr;
  LibraryPanel* libraryPanel_ = nullptr;
  SearchPanel* search_ = nullptr;
  ReaderView* reader_ = nullptr;
  ChatPanel* chat_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QLabel* modelLabel_ = nullptr;
  QLabel* deviceLabel_ = nullptr;
  QLabel* memoryLabel_ = nullptr;
  QLabel* speedLabel_ = nullptr;
  QLabel* activityLabel_ = nullptr;
  QProgressBar* activity_ = nullptr;

  QThread* storeThread_ = nullptr;
  QThread* importThread_ = nullptr;
  QThread* engineThread_ = nullptr;
  StoreWorker* store_ = nullptr;
  ImportWorker* importer_ = nullptr;
  EngineWorker* engine_ = nullptr;
};

// Where the sample documents are: $FOLIO_SAMPLES_DIR, <exe>/../share/folio/samples, or the
// source tree's resources/samples; "" when none has any file.
QString FindSamplesDir();

}  // namespace folio::ui
