// The reader: PDF pages rendered by the render worker (reader_source.h) at a zoom that
// fits the width, lazily (only pages near the viewport, cached), at the screen's
// devicePixelRatio; text documents as text. open() scrolls to a page and highlights a
// passage (a citation's quote or a search hit's words).
#pragma once

#include <QHash>
#include <QImage>
#include <QList>
#include <QRectF>
#include <QSizeF>
#include <QStringList>
#include <QWidget>

#include "ui/ui_types.h"

class QLabel;
class QScrollArea;
class QStackedWidget;
class QTextBrowser;
class QThread;

namespace folio::ui {

class RenderWorker;
class PdfCanvas;

class ReaderView : public QWidget {
  Q_OBJECT
 public:
  explicit ReaderView(QWidget* parent = nullptr);
  ~ReaderView() override;

  // Shows `doc` at `page` (1-based), highlighting `highlights` there: a passage first,
  // or words. Called with what StoreWorker::loadForReader sends.
  void showDocument(const ReaderDocument& doc, int page, const QStringList& highlights);
  // Stops the render thread (the main window calls this before it goes).
  void shutdown();

  qint64 documentId() const { return doc_.id; }
  int currentPage() const;  // 1-based; 0 with no document
  bool showingPdf() const;
  int highlightCount() const;  // rectangles (PDF) or selections (text) on show
  bool pageImageReady(int page) const;

 public slots:
  void zoomIn();
  void zoomOut();

 signals:
  void pageChanged(int page);

 protected:
  void resizeEvent(QResizeEvent* e) override;

 private:
  void showText(int page, const QStringList& highlights);
  void onOpened(int generation, const QList<QSizeF>& sizes, const QString& error);
  void onRendered(int generation, int index, double dpi, const QImage& image);
  void onFound(int generation, int index, const QList<QRectF>& rects);
  void requestVisiblePages();
  void relayout();
  void scrollToPage(int page);
  void updatePageLabel();

  ReaderDocument doc_;
  int generation_ = 0;
  int pendingPage_ = 1;
  QStringList pendingHighlights_;
  int textPage_ = 0;
  int textHighlights_ = 0;
  double zoom_ = 1.0;
  QHash<int, double> requested_;  // page index -> dpi asked of the render worker

  QLabel* title_;
  QLabel* pageLabel_;
  QStackedWidget* stack_;
  QScrollArea* scroll_;
  PdfCanvas* canvas_;
  QTextBrowser* text_;
  QLabel* empty_;
  QThread* thread_;
  RenderWorker* worker_;
};

}  // namespace folio::ui
