// --screenshot-tour OUTDIR: opens each panel in turn on the current library (adding the
// sample documents when it is empty), grabs the window (QWidget::grab) into one PNG per
// panel, then quits. scripts/screenshots.sh runs it under Xvfb.
#pragma once

#include <QObject>
#include <QString>
#include <functional>
#include <vector>

class QTimer;
class QWidget;

namespace folio::ui {

class MainWindow;
class SettingsDialog;

class ScreenshotTour : public QObject {
  Q_OBJECT
 public:
  ScreenshotTour(MainWindow* window, QString outDir);
  ~ScreenshotTour() override;
  void start();

 private:
  struct Step {
    QString name;
    std::function<void()> action;  // run once when the step starts
    std::function<bool()> ready;   // polled until true (or the step times out)
    std::function<void()> shot;    // then: grab
  };
  void tick();
  void grab(QWidget* w, const QString& name);
  void buildSteps();

  MainWindow* window_;
  QString outDir_;
  std::vector<Step> steps_;
  size_t current_ = 0;
  bool started_ = false;
  int waitedMs_ = 0;
  QTimer* timer_;
  SettingsDialog* dialog_ = nullptr;
};

}  // namespace folio::ui
