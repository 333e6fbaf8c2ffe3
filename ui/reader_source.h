// The reader's document sources behind one interface (Okular's lesson: the PDF library
// stays behind it), and the render worker that owns them on the reader's own thread, so
// parsing and rasterising a page never run on the UI thread.
#pragma once

#include <QImage>
#include <QList>
#include <QObject>
#include <QRectF>
#include <QSizeF>
#include <QString>
#include <QStringList>
#include <atomic>
#include <memory>

namespace folio::ui {

// A paged document the reader can draw. Sizes and rectangles are in points (1/72 inch).
class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  virtual int pageCount() const = 0;
  virtual QSizeF pageSize(int index) const = 0;
  virtual QImage render(int index, double dpi) const = 0;
  // Where `text` appears on the page (case-insensitive, across line breaks).
  virtual QList<QRectF> find(int index, const QString& text) const = 0;
};

// Poppler (poppler-qt6). nullptr and `error` when the file cannot be opened.
std::unique_ptr<DocumentSource> OpenPdfSource(const QString& path, QString* error);

class RenderWorker : public QObject {
  Q_OBJECT
 public:
  RenderWorker();
  ~RenderWorker() override;
  // Thread-safe: requests for older documents are skipped once a newer one is opened.
  void setCurrentGeneration(int g) { current_.store(g); }

 public slots:
  void open(int generation, const QString& path);
  void render(int generation, int index, double dpi);
  // Rectangles of phrases[0] when it is a passage found on the page, else of every phrase.
  void find(int generation, int index, const QStringList& phrases);

 signals:
  void opened(int generation, const QList<QSizeF>& pageSizes, const QString& error);
  void rendered(int generation, int index, double dpi, const QImage& image);
  void found(int generation, int index, const QList<QRectF>& rects);

 private:
  bool stale(int generation) const { return generation != current_.load(); }
  std::unique_ptr<DocumentSource> source_;
  std::atomic<int> current_{0};
};

}  // namespace folio::ui
