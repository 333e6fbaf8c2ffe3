#include "ui_test_util.h"

#include <QAbstractItemView>
#include <QScrollBar>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>

#include "ui/main_window.h"

namespace folio::ui::testing {

StallMeter::StallMeter() {
  timer_.setInterval(5);
  QObject::connect(&timer_, &QTimer::timeout, [this] {
    const qint64 now = clock_.nsecsElapsed();
    longest_ns_ = std::max(longest_ns_, now - last_ns_);
    last_ns_ = now;
  });
}

void StallMeter::start() {
  clock_.start();
  last_ns_ = 0;
  longest_ns_ = 0;
  timer_.start();
}

std::unique_ptr<MainWindow> OpenWindow(const QString& libraryPath) {
  MainWindowOptions options;
  options.libraryPath = libraryPath;
  options.samplesDir = FindSamplesDir();
  auto w = std::make_unique<MainWindow>(options);
  w->resize(1400, 900);
  w->show();
  if (!QTest::qWaitFor([&] { return w->documentsListed() > 0 && !w->modelLoading(); }, 60000))
    qWarning("the window did not list the library within 60 s");
  return w;
}

bool ClickLink(QTextBrowser* browser, const QUrl& url) {
  QTextDocument* doc = browser->document();
  for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      const QTextFragment f = it.fragment();
      if (QUrl(f.charFormat().anchorHref()) != url) continue;
      QTextCursor c(doc);
      c.setPosition(f.position() + std::min(1, f.length() - 1));
      browser->setTextCursor(c);
      browser->ensureCursorVisible();
      const QPoint at = browser->cursorRect(c).center() + QPoint(2, 0);
      QTest::mouseClick(browser->viewport(), Qt::LeftButton, {}, at);
      return true;
    }
  }
  return false;
}

void ClickRow(QAbstractItemView* view, int row) {
  const QModelIndex index = view->model()->index(row, 0);
  view->scrollTo(index);
  QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->visualRect(index).center());
}

}  // namespace folio::ui::testing
