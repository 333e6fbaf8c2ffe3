// Helpers for the UI suites: a UI-thread stall meter, windows over temporary libraries,
// and clicks on links and list rows the way a person would make them.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QUrl>
#include <memory>

class QAbstractItemView;
class QTextBrowser;

namespace folio::ui {
class MainWindow;
}

namespace folio::ui::testing {

// Measures the longest gap between ticks of a 5 ms heartbeat on the UI thread: how long
// the event loop was kept from running (printed by the tests, never asserted).
class StallMeter : public QObject {
 public:
  StallMeter();
  void start();
  double longestMs() const { return longest_ns_ / 1e6; }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  qint64 last_ns_ = 0;
  qint64 longest_ns_ = 0;
};

// A shown main window over the library at `path`, once its first listing has arrived and
// the model (if any) has loaded.
std::unique_ptr<MainWindow> OpenWindow(const QString& libraryPath);

// Clicks the link `url` in `browser` (scrolling it into view first). False if absent.
bool ClickLink(QTextBrowser* browser, const QUrl& url);
// Clicks row `row` of `view`.
void ClickRow(QAbstractItemView* view, int row);

}  // namespace folio::ui::testing
