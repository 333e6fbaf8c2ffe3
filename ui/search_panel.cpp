#include "ui/search_panel.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPainter>
#include <QTextDocument>
#include <QTimer>
#include <QVBoxLayout>

namespace folio::ui {
namespace {

constexpr int kDebounceMs = 200;
constexpr int kSnippetWidthFallback = 320;

}  // namespace

int SearchResultsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(results_.size());
}

QVariant SearchResultsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= results_.size()) return {};
  const SearchResult& r = results_[index.row()];
  switch (role) {
    case Qt::DisplayRole:
      return QStringLiteral("%1, p. %2").arg(r.title).arg(r.page);
    case Qt::ToolTipRole:
      return r.snippet;
    case DocIdRole:
      return r.docId;
    case TitleRole:
      return r.title;
    case PageRole:
      return r.page;
    case ScoreRole:
      return r.score;
    case SnippetRole:
      return r.snippet;
    case SpansRole: {
      QVariantList spans;
      for (const auto& s : r.spans) spans.push_back(QVariantList{s.first, s.second});
      return spans;
    }
  }
  return {};
}

QHash<int, QByteArray> SearchResultsModel::roleNames() const {
  auto names = QAbstractListModel::roleNames();
  names[DocIdRole] = "docId";
  names[TitleRole] = "title";
  names[PageRole] = "page";
  names[ScoreRole] = "score";
  names[SnippetRole] = "snippet";
  names[SpansRole] = "spans";
  return names;
}

void SearchResultsModel::setResults(const QList<SearchResult>& results) {
  beginResetModel();
  results_ = results;
  endResetModel();
}

// The snippet as HTML with the matched spans marked in the palette's highlight colours.
QString SnippetDelegate::html(const QStyleOptionViewItem& option, const QModelIndex& index) const {
  const bool selected = option.state & QStyle::State_Selected;
  const QPalette& pal = option.palette;
  const QString text =
      selected ? pal.color(QPalette::HighlightedText).name() : pal.color(QPalette::Text).name();
  const QString dim = selected ? text : pal.color(QPalette::PlaceholderText).name();
  const QString mark_bg =
      selected ? pal.color(QPalette::Base).name() : pal.color(QPalette::Highlight).name();
  const QString mark_fg =
      selected ? pal.color(QPalette::Text).name() : pal.color(QPalette::HighlightedText).name();
  const QString snippet = index.data(SearchResultsModel::SnippetRole).toString();
  QString body;
  int at = 0;
  for (const auto& v : index.data(SearchResultsModel::SpansRole).toList()) {
    const auto span = v.toList();
    const int b = span[0].toInt(), e = span[1].toInt();
    if (b < at) continue;
    body += snippet.mid(at, b - at).toHtmlEscaped();
    body += QStringLiteral("<span style=\"background-color:%1; color:%2\">%3</span>")
                .arg(mark_bg, mark_fg, snippet.mid(b, e - b).toHtmlEscaped());
    at = e;
  }
  body += snippet.mid(at).toHtmlEscaped();
  return QStringLiteral(
             "<div style=\"color:%1\"><b>%2</b> <span style=\"color:%3\">· p. %4 · "
             "score %5</span></div><div style=\"color:%1\">%6</div>")
      .arg(text, index.data(SearchResultsModel::TitleRole).toString().toHtmlEscaped(), dim)
      .arg(index.data(SearchResultsModel::PageRole).toInt())
      .arg(index.data(SearchResultsModel::ScoreRole).toDouble(), 0, 'f', 2)
      .arg(body);
}

void SnippetDelegate::paint(QPainter* p, const QStyleOptionViewItem& option,
                            const QModelIndex& index) const {
  QStyleOptionViewItem opt = option;
  initStyleOption(&opt, index);
  opt.text.clear();
  const QWidget* w = option.widget;
  QStyle* style = w ? w->style() : QApplication::style();
  style->drawControl(QStyle::CE_ItemViewItem, &opt, p, w);
  QTextDocument doc;
  doc.setDefaultFont(option.font);
  doc.setHtml(html(option, index));
  doc.setTextWidth(option.rect.width() - 8);
  p->save();
  p->translate(option.rect.topLeft() + QPoint(4, 2));
  doc.drawContents(p);
  p->restore();
}

QSize SnippetDelegate::sizeHint(const QStyleOptionViewItem& option,
                                const QModelIndex& index) const {
  QTextDocument doc;
  doc.setDefaultFont(option.font);
  doc.setHtml(html(option, index));
  const int width = option.rect.width() > 0 ? option.rect.width() : kSnippetWidthFallback;
  doc.setTextWidth(width - 8);
  return QSize(width, static_cast<int>(doc.size().height()) + 6);
}

SearchPanel::SearchPanel(QWidget* parent) : QWidget(parent) {
  query_ = new QLineEdit;
  query_->setPlaceholderText(tr("Search the library (Ctrl+F)"));
  query_->setClearButtonEnabled(true);
  status_ = new QLabel;
  status_->setForegroundRole(QPalette::PlaceholderText);
  model_ = new SearchResultsModel(this);
  view_ = new QListView;
  view_->setModel(model_);
  view_->setItemDelegate(new SnippetDelegate(view_));
  view_->setWordWrap(true);
  view_->setUniformItemSizes(false);
  view_->setResizeMode(QListView::Adjust);
  view_->setAlternatingRowColors(true);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(query_);
  layout->addWidget(status_);
  layout->addWidget(view_, 1);

  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(kDebounceMs);
  connect(query_, &QLineEdit::textChanged, debounce_, qOverload<>(&QTimer::start));
  connect(debounce_, &QTimer::timeout, this, &SearchPanel::startSearch);
  connect(query_, &QLineEdit::returnPressed, this, [this] {
    if (model_->rowCount() > 0) emit resultActivated(model_->at(0));
  });
  auto activate = [this](const QModelIndex& i) {
    if (i.isValid()) emit resultActivated(model_->at(i.row()));
  };
  connect(view_, &QListView::clicked, this, activate);
  connect(view_, &QListView::activated, this, activate);
}

void SearchPanel::focusQuery() {
  query_->setFocus();
  query_->selectAll();
}

void SearchPanel::setQuery(const QString& text) {
  query_->setText(text);
}

void SearchPanel::startSearch() {
  const QString text = query_->text().trimmed();
  ++generation_;
  if (text.isEmpty()) {
    model_->setResults({});
    status_->clear();
    shown_ = generation_;
    return;
  }
  status_->setText(tr("Searching…"));
  emit searchRequested(text, generation_);
}

void SearchPanel::showResults(int generation, const QList<SearchResult>& results,
                              const QString& error) {
  if (generation != generation_) return;  // typed on since: a newer search is coming
  shown_ = generation;
  model_->setResults(results);
  if (!error.isEmpty())
    status_->setText(error);
  else if (results.isEmpty())
    status_->setText(tr("No passage matches."));
  else
    status_->setText(tr("%n passage(s)", nullptr, static_cast<int>(results.size())));
}

}  // namespace folio::ui
