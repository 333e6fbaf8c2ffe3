#include "ui/reader_source.h"

#include <poppler-qt6.h>

namespace folio::ui {
namespace {

class PdfSource : public DocumentSource {
 public:
  explicit PdfSource(std::unique_ptr<Poppler::Document> doc) : doc_(std::move(doc)) {
    doc_->setRenderHint(Poppler::Document::Antialiasing);
    doc_->setRenderHint(Poppler::Document::TextAntialiasing);
  }
  int pageCount() const override { return doc_->numPages(); }
  QSizeF pageSize(int index) const override {
    auto page = doc_->page(index);
    return page ? page->pageSizeF() : QSizeF(612, 792);
  }
  QImage render(int index, double dpi) const override {
    auto page = doc_->page(index);
    return page ? page->renderToImage(dpi, dpi) : QImage();
  }
  QList<QRectF> find(int index, const QString& text) const override {
    auto page = doc_->page(index);
    if (!page || text.trimmed().isEmpty()) return {};
    return page->search(text, Poppler::Page::IgnoreCase | Poppler::Page::AcrossLines);
  }

 private:
  std::unique_ptr<Poppler::Document> doc_;
};

}  // namespace

std::unique_ptr<DocumentSource> OpenPdfSource(const QString& path, QString* error) {
  auto doc = Poppler::Document::load(path);
  if (!doc) {
    *error = QStringLiteral("cannot open %1 as a PDF").arg(path);
    return nullptr;
  }
  if (doc->isLocked()) {
    *error = QStringLiteral("%1 is password-protected; showing its stored text").arg(path);
    return nullptr;
  }
  return std::make_unique<PdfSource>(std::move(doc));
}

RenderWorker::RenderWorker() = default;
RenderWorker::~RenderWorker() = default;

void RenderWorker::open(int generation, const QString& path) {
  if (stale(generation)) return;
  QString error;
  source_ = OpenPdfSource(path, &error);
  QList<QSizeF> sizes;
  for (int i = 0; source_ && i < source_->pageCount(); ++i) sizes.push_back(source_->pageSize(i));
  emit opened(generation, sizes, error);
}

void RenderWorker::render(int generation, int index, double dpi) {
  if (stale(generation) || !source_ || index < 0 || index >= source_->pageCount()) return;
  emit rendered(generation, index, dpi, source_->render(index, dpi));
}

void RenderWorker::find(int generation, int index, const QStringList& phrases) {
  if (stale(generation) || !source_ || index < 0 || index >= source_->pageCount()) return;
  // A passage (several words) first: when it is found, single words are not marked too.
  QList<QRectF> all;
  for (int i = 0; i < phrases.size(); ++i) {
    const auto rects = source_->find(index, phrases[i]);
    if (i == 0 && phrases[i].contains(' ') && !rects.isEmpty()) {
      all = rects;
      break;
    }
    all += rects;
  }
  emit found(generation, index, all);
}

}  // namespace folio::ui
