#include "ui/library_model.h"

#include <QApplication>
#include <QFileInfo>
#include <QPainter>

#include "ui/text_util.h"

namespace folio::ui {

LibraryModel::LibraryModel(QObject* parent) : QAbstractTableModel(parent) {}

int LibraryModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(docs_.size() + pending_.size());
}
int LibraryModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

const DocRow* LibraryModel::rowAt(int row) const {
  return row >= 0 && row < docs_.size() ? &docs_[row] : nullptr;
}

int LibraryModel::rowOfDocument(qint64 id) const {
  for (int i = 0; i < docs_.size(); ++i) {
    if (docs_[i].id == id) return i;
  }
  return -1;
}

QVariant LibraryModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const int r = index.row();
  if (r >= docs_.size()) {  // a file being imported
    const Pending& p = pending_[r - docs_.size()];
    const double progress = p.total > 0 ? static_cast<double>(p.done) / p.total : 0.0;
    switch (role) {
      case Qt::DisplayRole:
        if (index.column() == kTitle) return QFileInfo(p.path).fileName();
        if (index.column() == kPages) return p.total > 0 ? QVariant(p.total) : QVariant();
        if (index.column() == kStatus) return p.started ? tr("importing") : tr("waiting");
        return {};
      case Qt::ToolTipRole:
        return p.path;
      case DocIdRole:
        return qint64{0};
      case TitleRole:
        return QFileInfo(p.path).fileName();
      case PathRole:
        return p.path;
      case StatusRole:
        return p.started ? QStringLiteral("importing") : QStringLiteral("waiting");
      case ProgressRole:
        return p.started ? progress : -1.0;
      default:
        return {};
    }
  }
  const DocRow& d = docs_[r];
  switch (role) {
    case Qt::DisplayRole:
      switch (index.column()) {
        case kTitle:
          return d.title.isEmpty() ? QFileInfo(d.path).fileName() : d.title;
        case kPages:
          return d.status == "ready" ? QVariant(d.pages) : QVariant();
        case kTokens:
          return d.status == "ready" ? (d.tokensEstimated ? "~" : "") + CompactCount(d.tokens)
                                     : QString();
        case kStatus:
          return d.status == "ready" ? tr("ready") : tr("failed");
      }
      return {};
    case Qt::ToolTipRole:
      return d.error.isEmpty() ? d.path : d.path + "\n" + d.error;
    case Qt::CheckStateRole:
      if (index.column() == kTitle && d.status == "ready")
        return checked_.contains(d.id) ? Qt::Checked : Qt::Unchecked;
      return {};
    case Qt::TextAlignmentRole:
      if (index.column() == kPages || index.column() == kTokens)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case DocIdRole:
      return d.id;
    case TitleRole:
      return d.title;
    case PathRole:
      return d.path;
    case PagesRole:
      return d.pages;
    case TokensRole:
      return d.tokens;
    case StatusRole:
      return d.status;
    case ProgressRole:
      return -1.0;
    case ErrorRole:
      return d.error;
    default:
      return {};
  }
}

bool LibraryModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  const DocRow* d = rowAt(index.row());
  if (!d || role != Qt::CheckStateRole || index.column() != kTitle) return false;
  if (value.value<Qt::CheckState>() == Qt::Checked)
    checked_.insert(d->id);
  else
    checked_.remove(d->id);
  emit dataChanged(index, index, {Qt::CheckStateRole});
  emit checkedChanged();
  return true;
}

Qt::ItemFlags LibraryModel::flags(const QModelIndex& index) const {
  Qt::ItemFlags f = QAbstractTableModel::flags(index);
  const DocRow* d = rowAt(index.row());
  if (d && d->status == "ready" && index.column() == kTitle) f |= Qt::ItemIsUserCheckable;
  return f;
}

QVariant LibraryModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case kTitle:
      return tr("Title");
    case kPages:
      return tr("Pages");
    case kTokens:
      return tr("Tokens");
    case kStatus:
      return tr("Status");
  }
  return {};
}

QHash<int, QByteArray> LibraryModel::roleNames() const {
  auto names = QAbstractTableModel::roleNames();
  names[DocIdRole] = "docId";
  names[TitleRole] = "title";
  names[PathRole] = "path";
  names[PagesRole] = "pages";
  names[TokensRole] = "tokens";
  names[StatusRole] = "status";
  names[ProgressRole] = "progress";
  names[ErrorRole] = "error";
  return names;
}

void LibraryModel::setDocuments(const QList<DocRow>& docs) {
  beginResetModel();
  docs_ = docs;
  QSet<qint64> ids;
  for (const auto& d : docs_) {
    ids.insert(d.id);
    if (!known_.contains(d.id) && d.status == "ready") checked_.insert(d.id);
    known_.insert(d.id);
  }
  checked_.intersect(ids);
  endResetModel();
  emit checkedChanged();
}

void LibraryModel::importQueued(const QStringList& paths) {
  const int first = rowCount();
  beginInsertRows({}, first, first + static_cast<int>(paths.size()) - 1);
  for (const auto& p : paths) pending_.push_back(Pending{p});
  endInsertRows();
}

void LibraryModel::importStarted(const QString& path) {
  for (int i = 0; i < pending_.size(); ++i) {
    if (pending_[i].path == path) {
      pending_[i].started = true;
      const int row = static_cast<int>(docs_.size()) + i;
      return emit dataChanged(index(row, 0), index(row, kColumnCount - 1));
    }
  }
  // A file found inside a dropped folder: not queued by name.
  const int row = rowCount();
  beginInsertRows({}, row, row);
  pending_.push_back(Pending{path, true});
  endInsertRows();
}

void LibraryModel::importProgress(const QString& path, int done, int total) {
  for (int i = 0; i < pending_.size(); ++i) {
    if (pending_[i].path != path) continue;
    pending_[i].done = done;
    pending_[i].total = total;
    const int row = static_cast<int>(docs_.size()) + i;
    emit dataChanged(index(row, 0), index(row, kColumnCount - 1));
  }
}

void LibraryModel::importFinished(const QString& path) {
  for (int i = 0; i < pending_.size(); ++i) {
    if (pending_[i].path != path) continue;
    const int row = static_cast<int>(docs_.size()) + i;
    beginRemoveRows({}, row, row);
    pending_.removeAt(i);
    endRemoveRows();
    return;
  }
}

void LibraryModel::clearPending() {
  if (pending_.isEmpty()) return;
  beginRemoveRows({}, static_cast<int>(docs_.size()), rowCount() - 1);
  pending_.clear();
  endRemoveRows();
}

QList<qint64> LibraryModel::checkedIds() const {
  QList<qint64> ids;
  for (const auto& d : docs_) {
    if (checked_.contains(d.id)) ids.push_back(d.id);
  }
  return ids;
}

void LibraryModel::setAllChecked(bool on) {
  for (const auto& d : docs_) {
    if (on && d.status == "ready")
      checked_.insert(d.id);
    else
      checked_.remove(d.id);
  }
  if (!docs_.isEmpty()) emit dataChanged(index(0, kTitle), index(docs_.size() - 1, kTitle));
  emit checkedChanged();
}

void ProgressDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option,
                             const QModelIndex& index) const {
  const double progress = index.data(LibraryModel::ProgressRole).toDouble();
  if (index.column() != LibraryModel::kStatus || progress < 0) {
    return QStyledItemDelegate::paint(painter, option, index);
  }
  QStyleOptionProgressBar bar;
  bar.rect = option.rect.adjusted(2, 3, -2, -3);
  bar.minimum = 0;
  bar.maximum = 1000;
  bar.progress = static_cast<int>(progress * 1000);
  bar.text = QStringLiteral("%1%").arg(static_cast<int>(progress * 100));
  bar.textVisible = true;
  bar.palette = option.palette;
  bar.state = option.state | QStyle::State_Horizontal;
  const QWidget* w = option.widget;
  (w ? w->style() : QApplication::style())->drawControl(QStyle::CE_ProgressBar, &bar, painter, w);
}

}  // namespace folio::ui
