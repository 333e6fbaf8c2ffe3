// The library panel: the documents table (LibraryModel + ProgressDelegate), its buttons,
// and the first-run offer of the sample documents when the library is empty.
#pragma once

#include <QList>
#include <QWidget>

class QLabel;
class QPushButton;
class QTableView;
class QWidget;

namespace folio::ui {

class LibraryModel;

class LibraryPanel : public QWidget {
  Q_OBJECT
 public:
  explicit LibraryPanel(LibraryModel* model, QWidget* parent = nullptr);

  QTableView* view() const { return view_; }
  QList<qint64> selectedIds() const;  // rows selected in the table (not the checkboxes)
  QStringList selectedPaths() const;
  void setSamplesAvailable(bool available) {
    samplesAvailable_ = available;
    updateEmptyState();
  }
  bool offeringSamples() const;

 signals:
  void importRequested();
  void addSamplesRequested();
  void removeRequested();
  void reimportRequested();
  void openRequested(qint64 docId);

 private:
  void updateEmptyState();

  LibraryModel* model_;
  QTableView* view_;
  QWidget* emptyState_;
  QPushButton* samplesButton_;
  bool samplesAvailable_ = false;
};

}  // namespace folio::ui
