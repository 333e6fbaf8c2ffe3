#include "ui/pdf_canvas.h"

#include <QPaintEvent>
#include <QPainter>

namespace folio::ui {

PdfCanvas::PdfCanvas(QWidget* parent) : QWidget(parent) {
  setBackgroundRole(QPalette::Dark);
  setAutoFillBackground(true);
}

void PdfCanvas::setPages(const QList<QSizeF>& sizes) {
  sizes_ = sizes;
  images_.clear();
  dpis_.clear();
  highlights_.clear();
  highlightPage_ = -1;
  updateGeometryFromPages();
}

void PdfCanvas::setScale(double s) {
  if (qFuzzyCompare(s, scale_)) return;
  scale_ = s;
  updateGeometryFromPages();
}

void PdfCanvas::updateGeometryFromPages() {
  tops_.clear();
  int y = kPageGap;
  for (const auto& s : sizes_) {
    tops_.push_back(y);
    y += qRound(s.height() * scale_) + kPageGap;
  }
  setFixedSize(sizeHint());
  update();
}

QSize PdfCanvas::sizeHint() const {
  double w = 0;
  for (const auto& s : sizes_) w = std::max(w, s.width());
  const int h = tops_.isEmpty() ? 0 : tops_.back() + qRound(sizes_.back().height() * scale_);
  return QSize(qRound(w * scale_) + 2 * kPageGap, h + kPageGap);
}

QRect PdfCanvas::pageRect(int i) const {
  if (i < 0 || i >= tops_.size()) return {};
  const QSize size(qRound(sizes_[i].width() * scale_), qRound(sizes_[i].height() * scale_));
  return QRect(QPoint((width() - size.width()) / 2, tops_[i]), size);
}

int PdfCanvas::pageAt(int y) const {
  int page = 0;
  for (int i = 0; i < tops_.size(); ++i) {
    if (tops_[i] - kPageGap / 2 <= y) page = i;
  }
  return page;
}

void PdfCanvas::setImage(int index, const QImage& image, double dpi) {
  images_[index] = image;
  dpis_[index] = dpi;
  update(pageRect(index));
}

void PdfCanvas::dropImagesOutside(int first, int last) {
  for (auto it = images_.begin(); it != images_.end();) {
    if (it.key() < first || it.key() > last) {
      dpis_.remove(it.key());
      it = images_.erase(it);
    } else {
      ++it;
    }
  }
}

void PdfCanvas::setHighlights(int index, const QList<QRectF>& rects) {
  highlightPage_ = index;
  highlights_ = rects;
  update();
}

void PdfCanvas::paintEvent(QPaintEvent* e) {
  QPainter p(this);
  for (int i = 0; i < tops_.size(); ++i) {
    const QRect r = pageRect(i);
    if (!r.intersects(e->rect())) continue;
    // A page not yet rendered shows as a blank sheet in the theme's base colour.
    p.fillRect(r, palette().color(QPalette::Base));
    if (auto it = images_.constFind(i); it != images_.constEnd()) {
      p.drawImage(r, *it);
    } else {
      p.setPen(palette().color(QPalette::PlaceholderText));
      p.drawText(r, Qt::AlignCenter, tr("Rendering page %1…").arg(i + 1));
    }
    p.setPen(palette().color(QPalette::Mid));
    p.drawRect(r.adjusted(0, 0, -1, -1));
    if (i == highlightPage_) {
      QColor c = palette().color(QPalette::Highlight);
      c.setAlpha(90);
      for (const auto& h : highlights_) {
        p.fillRect(QRectF(r.left() + h.left() * scale_, r.top() + h.top() * scale_,
                          h.width() * scale_, h.height() * scale_),
                   c);
      }
    }
  }
}

}  // namespace folio::ui
