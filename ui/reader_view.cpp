#include "ui/reader_view.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QThread>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWindow>

#include "ui/pdf_canvas.h"
#include "ui/reader_source.h"
#include "ui/text_util.h"

namespace folio::ui {
namespace {

constexpr int kPagesAround = 2;   // render this many pages beyond the visible ones
constexpr int kCachedAround = 6;  // keep images this far from the visible ones
constexpr double kMinScale = 0.5, kMaxScale = 4.0;

QString PageAnchor(int page) {
  return QStringLiteral("page-%1").arg(page);
}

// A page's stored text as paragraphs: lines wrapped in the source are joined (blank lines
// separate paragraphs), and in Markdown a "# heading" line is shown as a bold heading.
void InsertPageText(QTextCursor& c, const QString& text, bool markdown) {
  static const QRegularExpression kParagraphBreak("\\n\\s*\\n");
  for (const QString& para : text.split(kParagraphBreak, Qt::SkipEmptyParts)) {
    QTextBlockFormat block;
    block.setBottomMargin(6);
    c.insertBlock(block, QTextCharFormat());
    QString line = para.trimmed();
    line.replace('\n', ' ');
    QTextCharFormat format;
    if (markdown && line.startsWith('#')) {
      while (line.startsWith('#')) line.remove(0, 1);
      line = line.trimmed();
      format.setFontWeight(QFont::Bold);
      const qreal pt = c.document()->defaultFont().pointSizeF();
      if (pt > 0) format.setFontPointSize(pt * 1.2);
    }
    c.insertText(line, format);
  }
}

}  // namespace

ReaderView::ReaderView(QWidget* parent) : QWidget(parent) {
  title_ = new QLabel(tr("Reader"));
  QFont f = title_->font();
  f.setBold(true);
  title_->setFont(f);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  pageLabel_ = new QLabel;
  auto* zoomOutButton = new QToolButton;
  zoomOutButton->setText(QStringLiteral("−"));
  zoomOutButton->setToolTip(tr("Zoom out (Ctrl+-)"));
  auto* zoomInButton = new QToolButton;
  zoomInButton->setText(QStringLiteral("+"));
  zoomInButton->setToolTip(tr("Zoom in (Ctrl++)"));
  connect(zoomOutButton, &QToolButton::clicked, this, &ReaderView::zoomOut);
  connect(zoomInButton, &QToolButton::clicked, this, &ReaderView::zoomIn);
  auto* bar = new QHBoxLayout;
  bar->addWidget(title_, 1);
  bar->addWidget(pageLabel_);
  bar->addWidget(zoomOutButton);
  bar->addWidget(zoomInButton);

  canvas_ = new PdfCanvas;
  scroll_ = new QScrollArea;
  scroll_->setWidget(canvas_);
  scroll_->setAlignment(Qt::AlignHCenter);
  scroll_->setBackgroundRole(QPalette::Dark);
  text_ = new QTextBrowser;
  text_->setOpenLinks(false);
  empty_ = new QLabel(tr("Open a document from the library, a search result or a citation."));
  empty_->setAlignment(Qt::AlignCenter);
  empty_->setWordWrap(true);
  empty_->setForegroundRole(QPalette::PlaceholderText);
  stack_ = new QStackedWidget;
  stack_->addWidget(empty_);
  stack_->addWidget(scroll_);
  stack_->addWidget(text_);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(bar);
  layout->addWidget(stack_, 1);

  connect(scroll_->verticalScrollBar(), &QScrollBar::valueChanged, this, [this] {
    requestVisiblePages();
    updatePageLabel();
  });
  connect(text_->verticalScrollBar(), &QScrollBar::valueChanged, this,
          &ReaderView::updatePageLabel);

  thread_ = new QThread(this);
  thread_->setObjectName("folio-render");
  worker_ = new RenderWorker;
  worker_->moveToThread(thread_);
  connect(worker_, &RenderWorker::opened, this, &ReaderView::onOpened);
  connect(worker_, &RenderWorker::rendered, this, &ReaderView::onRendered);
  connect(worker_, &RenderWorker::found, this, &ReaderView::onFound);
  thread_->start();
}

ReaderView::~ReaderView() {
  shutdown();
}

void ReaderView::shutdown() {
  if (!worker_) return;
  worker_->setCurrentGeneration(-1);  // queued renders are skipped
  thread_->quit();
  thread_->wait();
  delete worker_;
  worker_ = nullptr;
}

void ReaderView::showDocument(const ReaderDocument& doc, int page, const QStringList& highlights) {
  if (!worker_) return;
  const bool same = doc.id == doc_.id && showingPdf() && doc.path == doc_.path;
  doc_ = doc;
  title_->setText(doc.title.isEmpty() ? QFileInfo(doc.path).fileName() : doc.title);
  pendingPage_ = std::max(1, page);
  pendingHighlights_ = highlights;
  if (same) {  // already open: scroll and mark, no re-parse
    scrollToPage(pendingPage_);
    QMetaObject::invokeMethod(worker_, "find", Qt::QueuedConnection, Q_ARG(int, generation_),
                              Q_ARG(int, pendingPage_ - 1), Q_ARG(QStringList, highlights));
    return;
  }
  ++generation_;
  worker_->setCurrentGeneration(generation_);
  if (doc.kind == "pdf" && QFileInfo::exists(doc.path)) {
    QMetaObject::invokeMethod(worker_, "open", Qt::QueuedConnection, Q_ARG(int, generation_),
                              Q_ARG(QString, doc.path));
    canvas_->setPages({});
    stack_->setCurrentWidget(scroll_);
  } else {
    showText(pendingPage_, highlights);
  }
}

void ReaderView::onOpened(int generation, const QList<QSizeF>& sizes, const QString& error) {
  if (generation != generation_) return;
  if (sizes.isEmpty()) {  // unreadable now (moved, locked): the stored text still reads
    pageLabel_->setText(error);
    return showText(pendingPage_, pendingHighlights_);
  }
  canvas_->setPages(sizes);
  requested_.clear();
  relayout();
  scrollToPage(pendingPage_);
  QMetaObject::invokeMethod(worker_, "find", Qt::QueuedConnection, Q_ARG(int, generation_),
                            Q_ARG(int, pendingPage_ - 1), Q_ARG(QStringList, pendingHighlights_));
}

void ReaderView::onRendered(int generation, int index, double dpi, const QImage& image) {
  if (generation != generation_) return;
  QImage img = image;
  img.setDevicePixelRatio(devicePixelRatioF());
  canvas_->setImage(index, img, dpi);
}

void ReaderView::onFound(int generation, int index, const QList<QRectF>& rects) {
  if (generation != generation_) return;
  canvas_->setHighlights(index, rects);
  if (!rects.isEmpty()) {  // bring the passage into view, a little below the top
    const QRect page = canvas_->pageRect(index);
    const int y = page.top() + qRound(rects.front().top() * canvas_->scale()) - 80;
    if (y > scroll_->verticalScrollBar()->value() + scroll_->viewport()->height() - 120 ||
        y < scroll_->verticalScrollBar()->value()) {
      scroll_->verticalScrollBar()->setValue(std::max(page.top() - kPageGap, y));
    }
  }
}

// Fit the widest page to the viewport, times the user's zoom.
void ReaderView::relayout() {
  if (canvas_->pageCount() == 0) return;
  double widest = 0;
  for (int i = 0; i < canvas_->pageCount(); ++i) {
    widest = std::max(widest, canvas_->pageRect(i).width() / canvas_->scale());
  }
  // Leave room for the vertical scroll bar even before it shows (pages always overflow),
  // so fitting never brings up a horizontal one.
  QScrollBar* bar = scroll_->verticalScrollBar();
  const int avail = scroll_->viewport()->width() - 2 * kPageGap -
                    (bar->isVisible() ? 0 : bar->sizeHint().width());
  const double fit = widest > 0 ? avail / widest : 1.0;
  canvas_->setScale(std::clamp(fit * zoom_, kMinScale, kMaxScale));
  requestVisiblePages();
}

void ReaderView::requestVisiblePages() {
  if (!showingPdf() || canvas_->pageCount() == 0 || !worker_) return;
  const int top = scroll_->verticalScrollBar()->value();
  const int first = std::max(0, canvas_->pageAt(top) - kPagesAround);
  const int last = std::min(canvas_->pageCount() - 1,
                            canvas_->pageAt(top + scroll_->viewport()->height()) + kPagesAround);
  const double dpi = 72.0 * canvas_->scale() * devicePixelRatioF();
  for (int i = first; i <= last; ++i) {
    if (requested_.contains(i) && qFuzzyCompare(requested_.value(i), dpi)) continue;
    requested_[i] = dpi;
    QMetaObject::invokeMethod(worker_, "render", Qt::QueuedConnection, Q_ARG(int, generation_),
                              Q_ARG(int, i), Q_ARG(double, dpi));
  }
  canvas_->dropImagesOutside(first - kCachedAround, last + kCachedAround);
  for (auto it = requested_.begin(); it != requested_.end();) {
    const bool far = it.key() < first - kCachedAround || it.key() > last + kCachedAround;
    it = far ? requested_.erase(it) : std::next(it);
  }
}

void ReaderView::scrollToPage(int page) {
  if (showingPdf()) {
    const QRect r = canvas_->pageRect(page - 1);
    scroll_->verticalScrollBar()->setValue(std::max(0, r.top() - kPageGap));
    requestVisiblePages();
  }
  updatePageLabel();
}

void ReaderView::showText(int page, const QStringList& highlights) {
  stack_->setCurrentWidget(text_);
  QTextDocument* d = text_->document();
  d->clear();
  QTextCursor c(d);
  QList<int> starts;
  for (int i = 0; i < doc_.pageTexts.size(); ++i) {
    QTextBlockFormat heading;
    heading.setTopMargin(i == 0 ? 0 : 18);
    QTextCharFormat bold;
    bold.setFontWeight(QFont::Bold);
    bold.setAnchor(true);
    bold.setAnchorNames({PageAnchor(i + 1)});
    if (i > 0)
      c.insertBlock(heading);
    else
      c.setBlockFormat(heading);
    starts.push_back(c.position());
    c.insertText(tr("Page %1").arg(i + 1), bold);
    InsertPageText(c, doc_.pageTexts[i], doc_.kind == "markdown");
  }
  textPage_ = std::clamp(page, 1, std::max<int>(1, static_cast<int>(doc_.pageTexts.size())));
  // Highlight the passage (or the words) within the page, and scroll there.
  QList<QTextEdit::ExtraSelection> marks;
  if (!starts.isEmpty()) {
    const int from = starts[textPage_ - 1];
    const int to = textPage_ < starts.size() ? starts[textPage_] : d->characterCount();
    QColor bg = palette().color(QPalette::Highlight);
    QColor fg = palette().color(QPalette::HighlightedText);
    for (int i = 0; i < highlights.size(); ++i) {
      QTextCursor found = d->find(highlights[i], from);
      while (!found.isNull() && found.selectionEnd() <= to) {
        QTextEdit::ExtraSelection s;
        s.cursor = found;
        s.format.setBackground(bg);
        s.format.setForeground(fg);
        marks.push_back(s);
        found = d->find(highlights[i], found.selectionEnd());
      }
      if (i == 0 && highlights[i].contains(' ') && !marks.isEmpty()) break;
    }
    text_->scrollToAnchor(PageAnchor(textPage_));
    if (!marks.isEmpty()) {
      QTextCursor at = marks.front().cursor;
      text_->setTextCursor(QTextCursor(d->findBlock(at.selectionStart())));
      text_->ensureCursorVisible();
    }
  }
  text_->setExtraSelections(marks);
  textHighlights_ = static_cast<int>(marks.size());
  updatePageLabel();
}

int ReaderView::currentPage() const {
  if (doc_.id == 0) return 0;
  if (showingPdf()) {
    if (canvas_->pageCount() == 0) return pendingPage_;
    // The page that fills the upper part of the viewport.
    return canvas_->pageAt(scroll_->verticalScrollBar()->value() +
                           scroll_->viewport()->height() / 3) +
           1;
  }
  return textPage_;
}

bool ReaderView::showingPdf() const {
  return stack_->currentWidget() == scroll_;
}

int ReaderView::highlightCount() const {
  return showingPdf() ? canvas_->highlightCount() : textHighlights_;
}

bool ReaderView::pageImageReady(int page) const {
  return canvas_->hasImage(page - 1);
}

void ReaderView::updatePageLabel() {
  if (doc_.id == 0) return pageLabel_->clear();
  const int total = showingPdf() ? canvas_->pageCount() : static_cast<int>(doc_.pageTexts.size());
  if (total > 0) pageLabel_->setText(tr("Page %1 of %2").arg(currentPage()).arg(total));
  emit pageChanged(currentPage());
}

void ReaderView::zoomIn() {
  zoom_ = std::min(zoom_ * 1.2, 4.0);
  const int page = currentPage();
  relayout();
  scrollToPage(page);
}

void ReaderView::zoomOut() {
  zoom_ = std::max(zoom_ / 1.2, 0.3);
  const int page = currentPage();
  relayout();
  scrollToPage(page);
}

void ReaderView::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  if (showingPdf() && canvas_->pageCount() > 0) {
    const int page = currentPage();
    relayout();
    scrollToPage(page);
  }
}

}  // namespace folio::ui
