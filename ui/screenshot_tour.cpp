#include "ui/screenshot_tour.h"

#include <QApplication>
#include <QDir>
#include <QListView>
#include <QTimer>
#include <cstdio>

#include "ui/app_settings.h"
#include "ui/chat_panel.h"
#include "ui/library_model.h"
#include "ui/library_panel.h"
#include "ui/main_window.h"
#include "ui/reader_view.h"
#include "ui/search_panel.h"
#include "ui/settings_dialog.h"

namespace folio::ui {
namespace {

constexpr int kPollMs = 100;
constexpr int kStepTimeoutMs = 120000;

}  // namespace

ScreenshotTour::ScreenshotTour(MainWindow* window, QString outDir)
    : window_(window), outDir_(std::move(outDir)), timer_(new QTimer(this)) {
  connect(timer_, &QTimer::timeout, this, &ScreenshotTour::tick);
}

ScreenshotTour::~ScreenshotTour() {
  delete dialog_;
}

void ScreenshotTour::start() {
  QDir().mkpath(outDir_);
  buildSteps();
  timer_->start(kPollMs);
}

void ScreenshotTour::buildSteps() {
  MainWindow* w = window_;
  auto settled = [w] { return w->documentsListed() > 0 && !w->importing() && !w->modelLoading(); };
  steps_.push_back({"01-first-run", [] {}, settled,
                    [this, w] {
                      if (w->libraryModel()->documentCount() == 0) grab(w, "01-first-run");
                    }});
  steps_.push_back({"02-library",
                    [w] {
                      if (w->libraryModel()->documentCount() == 0) w->addSampleDocuments();
                    },
                    [w] {
                      return w->libraryModel()->documentCount() > 0 && !w->importing() &&
                             w->libraryModel()->importingCount() == 0;
                    },
                    [this, w] { grab(w, "02-library"); }});
  // FOLIO_TOUR_QUERY: what the search panel is shown searching for (the reader opens its
  // first result).
  const QString query = qEnvironmentVariable("FOLIO_TOUR_QUERY", "longitude clock");
  steps_.push_back({"03-search",
                    [w, query] {
                      w->showSearch();
                      w->searchPanel()->setQuery(query);
                    },
                    [w] {
                      return w->searchPanel()->lastShownGeneration() > 0 &&
                             w->searchPanel()->model()->rowCount() > 0;
                    },
                    [this, w] { grab(w, "03-search"); }});
  steps_.push_back({"04-reader",
                    [w] {
                      auto* view = w->searchPanel()->view();
                      const auto index = view->model()->index(0, 0);
                      view->setCurrentIndex(index);
                      emit view->activated(index);
                    },
                    [w] {
                      return w->reader()->documentId() != 0 &&
                             (!w->reader()->showingPdf() ||
                              w->reader()->pageImageReady(w->reader()->currentPage()));
                    },
                    [this, w] { grab(w, "04-reader"); }});
  steps_.push_back({"05-chat",
                    [w] {
                      w->chat()->focusInput();
                      w->chat()->ask(
                          "Who built the first sea clock that kept time well enough "
                          "to find longitude?");
                    },
                    [w] { return !w->chat()->answering() && !w->chat()->turns().isEmpty(); },
                    [this, w] { grab(w, "05-chat"); }});
  // With FOLIO_TOUR_MODEL (a model folder), the settings show it validated and the chat
  // shows an answer written by it.
  const QString model = qEnvironmentVariable("FOLIO_TOUR_MODEL");
  steps_.push_back({"06-settings",
                    [this, w, model] {
                      dialog_ = new SettingsDialog(w->settings(), w);
                      dialog_->show();
                      if (!model.isEmpty()) dialog_->setModelDir(model);
                    },
                    [this] { return dialog_ && !dialog_->validating(); },
                    [this] {
                      grab(dialog_, "06-settings");
                      dialog_->close();
                    }});
  if (model.isEmpty()) return;
  steps_.push_back({"07-model-chat",
                    [w, model] {
                      AppSettings s = w->settings();
                      s.modelDir = model;
                      s.maxNewTokens = 60;
                      w->applySettings(s);
                    },
                    [w] { return !w->modelLoading(); }, [] {}});
  steps_.push_back({"07-model-chat",
                    [w] {
                      w->chat()->newConversation();
                      w->chat()->ask("What did the Longitude Act of 1714 offer?");
                    },
                    [w] { return !w->chat()->answering() && !w->chat()->turns().isEmpty(); },
                    [this, w] { grab(w, "07-model-chat"); }});
}

void ScreenshotTour::tick() {
  if (current_ >= steps_.size()) {
    timer_->stop();
    window_->close();
    QApplication::quit();
    return;
  }
  Step& s = steps_[current_];
  if (!started_) {
    started_ = true;
    waitedMs_ = 0;
    s.action();
    return;
  }
  waitedMs_ += kPollMs;
  const bool timed_out = waitedMs_ > kStepTimeoutMs;
  if (!s.ready() && !timed_out) return;
  if (timed_out) std::fprintf(stderr, "screenshot tour: %s timed out\n", qPrintable(s.name));
  // One more event-loop turn so the last render and layout are on screen.
  timer_->stop();
  QTimer::singleShot(300, this, [this] {
    steps_[current_].shot();
    ++current_;
    started_ = false;
    timer_->start(kPollMs);
  });
}

void ScreenshotTour::grab(QWidget* w, const QString& name) {
  const QString path = QDir(outDir_).filePath(name + ".png");
  const bool ok = w->grab().save(path);
  std::printf("%s %s\n", ok ? "saved" : "could not save", qPrintable(path));
  std::fflush(stdout);
}

}  // namespace folio::ui
