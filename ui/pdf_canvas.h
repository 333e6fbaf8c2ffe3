// The widget inside the reader's scroll area that draws a PDF's pages one under another:
// each page's image when rendered (else a blank page), with highlight rectangles over it.
#pragma once

#include <QHash>
#include <QImage>
#include <QList>
#include <QRectF>
#include <QSizeF>
#include <QWidget>

namespace folio::ui {

class PdfCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit PdfCanvas(QWidget* parent = nullptr);

  void setPages(const QList<QSizeF>& sizesInPoints);
  void setScale(double pixelsPerPoint);  // device-independent pixels per point
  double scale() const { return scale_; }
  int pageCount() const { return static_cast<int>(sizes_.size()); }
  QRect pageRect(int index) const;  // in widget coordinates
  int pageAt(int y) const;          // index of the page under y (clamped)

  void setImage(int index, const QImage& image, double dpi);
  bool hasImage(int index) const { return images_.contains(index); }
  double imageDpi(int index) const { return dpis_.value(index, 0); }
  void dropImagesOutside(int first, int last);

  void setHighlights(int index, const QList<QRectF>& rectsInPoints);
  int highlightCount() const { return static_cast<int>(highlights_.size()); }
  int highlightPage() const { return highlightPage_; }

  QSize sizeHint() const override;

 protected:
  void paintEvent(QPaintEvent* e) override;

 private:
  void updateGeometryFromPages();

  QList<QSizeF> sizes_;
  QList<int> tops_;  // y of each page
  double scale_ = 1.0;
  QHash<int, QImage> images_;
  QHash<int, double> dpis_;
  int highlightPage_ = -1;
  QList<QRectF> highlights_;
};

inline constexpr int kPageGap = 12;  // pixels between pages and around them

}  // namespace folio::ui
