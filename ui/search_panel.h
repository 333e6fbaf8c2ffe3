// The search panel (Ctrl+F): results with document, page, score and the snippet with the
// matched words highlighted, updated as you type (debounced ~200 ms; the search runs on
// the store worker). Activating a result asks the main window to open the reader there.
#pragma once

#include <QAbstractListModel>
#include <QStyledItemDelegate>
#include <QWidget>

#include "ui/ui_types.h"

class QLabel;
class QLineEdit;
class QListView;
class QTimer;

namespace folio::ui {

class SearchResultsModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Role {
    DocIdRole = Qt::UserRole + 1,
    TitleRole,
    PageRole,
    ScoreRole,
    SnippetRole,
    SpansRole
  };
  using QAbstractListModel::QAbstractListModel;
  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;
  void setResults(const QList<SearchResult>& results);
  const SearchResult& at(int row) const { return results_[row]; }

 private:
  QList<SearchResult> results_;
};

// Two lines per result: "Title · p. N · score" and the snippet with highlighted words.
class SnippetDelegate : public QStyledItemDelegate {
  Q_OBJECT
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* p, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

 private:
  QString html(const QStyleOptionViewItem& option, const QModelIndex& index) const;
};

class SearchPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SearchPanel(QWidget* parent = nullptr);

  void focusQuery();
  void setQuery(const QString& text);  // as if typed
  // From the store worker: results of request `generation` (older ones are dropped).
  void showResults(int generation, const QList<SearchResult>& results, const QString& error);

  SearchResultsModel* model() const { return model_; }
  QListView* view() const { return view_; }
  int lastShownGeneration() const { return shown_; }

 signals:
  void searchRequested(const QString& text, int generation);
  void resultActivated(const folio::ui::SearchResult& result);

 private:
  void startSearch();

  QLineEdit* query_;
  QLabel* status_;
  QListView* view_;
  SearchResultsModel* model_;
  QTimer* debounce_;
  int generation_ = 0;
  int shown_ = 0;
};

}  // namespace folio::ui
