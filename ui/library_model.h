// The library panel's data: one row per document (title, pages, tokens, status) plus a
// row per file being imported, whose status column is a progress bar (ProgressDelegate).
// The title column is checkable: the checked documents are the ones a question is about.
#pragma once

#include <QAbstractTableModel>
#include <QList>
#include <QSet>
#include <QStyledItemDelegate>

#include "ui/ui_types.h"

namespace folio::ui {

class LibraryModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kTitle, kPages, kTokens, kStatus, kColumnCount };
  enum Role {
    DocIdRole = Qt::UserRole + 1,  // qint64; 0 for a file still importing
    TitleRole,
    PathRole,
    PagesRole,
    TokensRole,
    StatusRole,    // "ready", "failed", "importing", "waiting"
    ProgressRole,  // double 0..1 while importing, -1 otherwise (and when unknown: 0)
    ErrorRole,
  };

  explicit LibraryModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role) override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  QVariant headerData(int section, Qt::Orientation o, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  // The stored documents (keeps which ones are checked; new ones come checked).
  void setDocuments(const QList<DocRow>& docs);
  // Import progress of one file, by absolute path.
  void importQueued(const QStringList& paths);
  void importStarted(const QString& path);
  void importProgress(const QString& path, int pagesDone, int pagesTotal);
  void importFinished(const QString& path);
  void clearPending();

  QList<qint64> checkedIds() const;
  void setAllChecked(bool on);
  int documentCount() const { return static_cast<int>(docs_.size()); }
  int importingCount() const { return static_cast<int>(pending_.size()); }
  const DocRow* rowAt(int row) const;
  int rowOfDocument(qint64 id) const;

 signals:
  void checkedChanged();

 private:
  struct Pending {
    QString path;
    bool started = false;
    int done = 0;
    int total = -1;
  };
  QList<DocRow> docs_;
  QList<Pending> pending_;  // shown after the documents
  QSet<qint64> checked_;
  QSet<qint64> known_;  // ids seen before: a new id comes checked
};

// Paints a progress bar in the status column of a row that is importing.
class ProgressDelegate : public QStyledItemDelegate {
  Q_OBJECT
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override;
};

}  // namespace folio::ui
