#include "ui/library_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

#include "ui/library_model.h"

namespace folio::ui {

LibraryPanel::LibraryPanel(LibraryModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  view_ = new QTableView;
  view_->setModel(model_);
  view_->setItemDelegateForColumn(LibraryModel::kStatus, new ProgressDelegate(view_));
  view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  view_->setAlternatingRowColors(true);
  view_->setShowGrid(false);
  view_->verticalHeader()->hide();
  view_->horizontalHeader()->setSectionResizeMode(LibraryModel::kTitle, QHeaderView::Stretch);
  for (int c : {LibraryModel::kPages, LibraryModel::kTokens})
    view_->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  view_->horizontalHeader()->setSectionResizeMode(LibraryModel::kStatus, QHeaderView::Fixed);
  view_->horizontalHeader()->resizeSection(LibraryModel::kStatus, 90);
  view_->setWordWrap(false);
  view_->setTextElideMode(Qt::ElideRight);

  auto* importButton = new QPushButton(tr("Import…"));
  importButton->setToolTip(
      tr("Import PDFs, .txt and .md files (Ctrl+O); or drop files and folders"));
  auto* reimportButton = new QPushButton(tr("Re-import"));
  reimportButton->setToolTip(tr("Import the selected documents again from their files (Ctrl+R)"));
  auto* removeButton = new QPushButton(tr("Remove"));
  removeButton->setToolTip(tr("Remove the selected documents from the library (Del)"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(importButton);
  buttons->addWidget(reimportButton);
  buttons->addWidget(removeButton);
  buttons->addStretch(1);

  // Shown instead of the table while the library is empty.
  emptyState_ = new QWidget;
  auto* hello =
      new QLabel(tr("<h3>Your library is empty</h3><p>Import PDFs, text or Markdown "
                    "files (Ctrl+O), drop them here, or start with the sample "
                    "documents.</p>"));
  hello->setWordWrap(true);
  hello->setAlignment(Qt::AlignCenter);
  samplesButton_ = new QPushButton(tr("Add the sample documents"));
  auto* emptyLayout = new QVBoxLayout(emptyState_);
  emptyLayout->addStretch(1);
  emptyLayout->addWidget(hello);
  emptyLayout->addWidget(samplesButton_, 0, Qt::AlignHCenter);
  emptyLayout->addStretch(2);

  auto* hint = new QLabel(tr("Checked documents are the ones questions are about."));
  hint->setForegroundRole(QPalette::PlaceholderText);
  hint->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(buttons);
  layout->addWidget(view_, 1);
  layout->addWidget(emptyState_, 1);
  layout->addWidget(hint);

  connect(importButton, &QPushButton::clicked, this, &LibraryPanel::importRequested);
  connect(reimportButton, &QPushButton::clicked, this, &LibraryPanel::reimportRequested);
  connect(removeButton, &QPushButton::clicked, this, &LibraryPanel::removeRequested);
  connect(samplesButton_, &QPushButton::clicked, this, &LibraryPanel::addSamplesRequested);
  connect(view_, &QTableView::activated, this, [this](const QModelIndex& i) {
    const qint64 id = i.data(LibraryModel::DocIdRole).toLongLong();
    if (id > 0) emit openRequested(id);
  });
  connect(model_, &QAbstractItemModel::modelReset, this, &LibraryPanel::updateEmptyState);
  connect(model_, &QAbstractItemModel::rowsInserted, this, &LibraryPanel::updateEmptyState);
  connect(model_, &QAbstractItemModel::rowsRemoved, this, &LibraryPanel::updateEmptyState);
  updateEmptyState();
}

QList<qint64> LibraryPanel::selectedIds() const {
  QList<qint64> ids;
  for (const auto& i : view_->selectionModel()->selectedRows()) {
    const qint64 id = i.data(LibraryModel::DocIdRole).toLongLong();
    if (id > 0) ids.push_back(id);
  }
  return ids;
}

QStringList LibraryPanel::selectedPaths() const {
  QStringList paths;
  for (const auto& i : view_->selectionModel()->selectedRows()) {
    if (i.data(LibraryModel::DocIdRole).toLongLong() > 0)
      paths.push_back(i.data(LibraryModel::PathRole).toString());
  }
  return paths;
}

bool LibraryPanel::offeringSamples() const {
  return emptyState_->isVisibleTo(this);
}

void LibraryPanel::updateEmptyState() {
  const bool empty = model_->rowCount() == 0;
  view_->setVisible(!empty);
  emptyState_->setVisible(empty);
  samplesButton_->setVisible(samplesAvailable_);
}

}  // namespace folio::ui
