// Settings: the model folder (validated on choice, off the UI thread: architecture, size,
// and the memory it needs on the chosen device at the chosen context), device, threads,
// context length and sampling. The caller saves the result with AppSettings::Save.
#pragma once

#include <QDialog>
#include <QObject>
#include <QString>

#include "ui/app_settings.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QThread;

namespace folio::ui {

// Opens a model folder far enough to describe it (config, shard headers, tokenizer).
class ModelProbe : public QObject {
  Q_OBJECT
 public slots:
  void probe(int generation, const QString& dir, const QString& device, int context);
 signals:
  void probed(int generation, const QString& summary, const QString& error);
};

// "Needs about 14.2 GiB on CPU: weights ... + cache ... at 8,192 tokens" for a config.
QString DescribeModelFolder(const QString& dir, const QString& device, int context, QString* error);

class SettingsDialog : public QDialog {
  Q_OBJECT
 public:
  explicit SettingsDialog(const AppSettings& current, QWidget* parent = nullptr);
  ~SettingsDialog() override;

  AppSettings settings() const;
  void setModelDir(const QString& dir);  // as if chosen in the folder dialog

  // For tests and the status line: what validation said ("" while it runs).
  QString modelSummary() const { return summary_; }
  QString modelError() const { return error_; }
  bool validating() const { return validating_; }
  bool acceptable() const;

 private:
  void browse();
  void validate();
  void onProbed(int generation, const QString& summary, const QString& error);

  QLineEdit* modelDir_;
  QLabel* modelInfo_;
  QComboBox* device_;
  QSpinBox* threads_;
  QSpinBox* context_;
  QSpinBox* maxNew_;
  QCheckBox* greedy_;
  QDoubleSpinBox* temperature_;
  QDoubleSpinBox* topP_;
  QSpinBox* topK_;
  QDoubleSpinBox* repetition_;
  QSpinBox* seed_;
  QDialogButtonBox* buttons_;
  QThread* thread_;
  ModelProbe* probe_;
  int generation_ = 0;
  bool validating_ = false;
  QString summary_, error_;
};

}  // namespace folio::ui
