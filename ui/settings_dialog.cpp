#include "ui/settings_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>

#include "engine/checkpoint.h"
#include "engine/cuda_loader.h"
#include "engine/tokenizer.h"
#include "ui/text_util.h"

namespace folio::ui {
namespace {

// Bytes of one sequence's cache at `context` tokens: K/V of the attention layers (bf16 on
// the GPU, float32 on the CPU) + the fixed conv and SSM state of the Mamba layers.
double CacheBytes(const ModelConfig& c, int64_t context, bool gpu) {
  int64_t attn = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) attn += c.IsAttentionLayer(i) ? 1 : 0;
  const double kv = static_cast<double>(attn) * 2.0 * static_cast<double>(c.num_key_value_heads) *
                    static_cast<double>(c.head_dim()) * static_cast<double>(context) *
                    (gpu ? 2 : 4);
  const double ssm = static_cast<double>(c.num_hidden_layers - attn) *
                     static_cast<double>(c.d_inner()) *
                     static_cast<double>(c.mamba_d_state + c.mamba_d_conv) * 4.0;
  return kv + ssm;
}

bool WantsGpu(const QString& device, QString* unavailable) {
  if (device == "cpu") return false;
  *unavailable = QString::fromStdString(CudaUnavailable());
  return unavailable->isEmpty();
}

}  // namespace

QString DescribeModelFolder(const QString& dir, const QString& device, int context,
                            QString* error) {
  auto ck = Checkpoint::Open(dir.toStdString());
  if (!ck.ok()) {
    *error = QString::fromStdString(ck.status().message());
    return {};
  }
  auto tok = Tokenizer::Load(dir.toStdString());
  if (!tok.ok()) {
    *error = QString::fromStdString(tok.status().message());
    return {};
  }
  const ModelConfig& c = (*ck)->config();
  const int64_t ctx = std::min<int64_t>(context > 0 ? context : c.max_position_embeddings,
                                        c.max_position_embeddings);
  QString unavailable;
  const bool gpu = WantsGpu(device, &unavailable);
  if (device == "cuda" && !gpu) {
    *error = QObject::tr("no usable GPU: %1").arg(unavailable);
    return {};
  }
  const double weights = gpu ? static_cast<double>(c.ParameterCount()) * 2.0
                             : static_cast<double>((*ck)->TotalBytes());
  const double cache = CacheBytes(c, ctx, gpu);
  return QObject::tr(
             "%1 (%2), %3 parameters (%4 active), %5 layers, %6 on disk in %7 file(s).\n"
             "Needs about %8 on %9: weights %10%11 + cache %12 at %13 tokens "
             "(model maximum %14).")
      .arg(QString::fromStdString(c.architecture), QString::fromStdString(c.model_type),
           CompactCount(c.ParameterCount()), CompactCount(c.ActiveParameterCount()))
      .arg(c.num_hidden_layers)
      .arg(HumanBytes(static_cast<double>((*ck)->TotalBytes())))
      .arg((*ck)->ShardCount())
      .arg(HumanBytes(weights + cache), gpu ? QObject::tr("the GPU") : QObject::tr("the CPU"),
           HumanBytes(weights), gpu ? QString() : QObject::tr(" (memory-mapped)"),
           HumanBytes(cache), QLocale().toString(static_cast<qint64>(ctx)),
           QLocale().toString(static_cast<qint64>(c.max_position_embeddings)));
}

void ModelProbe::probe(int generation, const QString& dir, const QString& device, int context) {
  QString error;
  const QString summary = DescribeModelFolder(dir, device, context, &error);
  emit probed(generation, summary, error);
}

SettingsDialog::SettingsDialog(const AppSettings& s, QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Folio settings"));
  setMinimumWidth(620);
  modelDir_ = new QLineEdit(s.modelDir);
  modelDir_->setPlaceholderText(tr("No model: answers are quoted passages"));
  auto* browseButton = new QPushButton(tr("Choose…"));
  auto* clearButton = new QPushButton(tr("No model"));
  auto* dirRow = new QHBoxLayout;
  dirRow->addWidget(modelDir_, 1);
  dirRow->addWidget(browseButton);
  dirRow->addWidget(clearButton);
  modelInfo_ = new QLabel;
  modelInfo_->setWordWrap(true);
  modelInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  device_ = new QComboBox;
  device_->addItem(tr("Auto (GPU when there is one)"), "auto");
  device_->addItem(tr("CUDA GPU"), "cuda");
  device_->addItem(tr("CPU"), "cpu");
  device_->setCurrentIndex(std::max(0, device_->findData(s.device)));
  threads_ = new QSpinBox;
  threads_->setRange(0, 1024);
  threads_->setSpecialValueText(tr("all cores"));
  threads_->setValue(s.threads);
  context_ = new QSpinBox;
  context_->setRange(512, 262144);
  context_->setSingleStep(1024);
  context_->setSuffix(tr(" tokens"));
  context_->setValue(s.contextLength);
  maxNew_ = new QSpinBox;
  maxNew_->setRange(16, 8192);
  maxNew_->setValue(s.maxNewTokens);
  greedy_ = new QCheckBox(tr("Greedy (always the most likely token)"));
  greedy_->setChecked(s.greedy);
  temperature_ = new QDoubleSpinBox;
  temperature_->setRange(0.05, 2.0);
  temperature_->setSingleStep(0.05);
  temperature_->setValue(s.temperature);
  topP_ = new QDoubleSpinBox;
  topP_->setRange(0.05, 1.0);
  topP_->setSingleStep(0.05);
  topP_->setValue(s.topP);
  topK_ = new QSpinBox;
  topK_->setRange(0, 1000);
  topK_->setSpecialValueText(tr("off"));
  topK_->setValue(s.topK);
  repetition_ = new QDoubleSpinBox;
  repetition_->setRange(1.0, 2.0);
  repetition_->setSingleStep(0.05);
  repetition_->setValue(s.repetitionPenalty);
  seed_ = new QSpinBox;
  seed_->setRange(0, 1 << 30);
  seed_->setValue(static_cast<int>(s.seed));

  auto* form = new QFormLayout;
  form->addRow(tr("Model folder:"), dirRow);
  form->addRow(QString(), modelInfo_);
  form->addRow(tr("Device:"), device_);
  form->addRow(tr("Threads:"), threads_);
  form->addRow(tr("Context length:"), context_);
  form->addRow(tr("Longest answer:"), maxNew_);
  form->addRow(QString(), greedy_);
  form->addRow(tr("Temperature:"), temperature_);
  form->addRow(tr("Top-p:"), topP_);
  form->addRow(tr("Top-k:"), topK_);
  form->addRow(tr("Repetition penalty:"), repetition_);
  form->addRow(tr("Seed:"), seed_);
  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(buttons_);
  connect(buttons_, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(browseButton, &QPushButton::clicked, this, &SettingsDialog::browse);
  connect(clearButton, &QPushButton::clicked, this, [this] { setModelDir(QString()); });
  connect(modelDir_, &QLineEdit::editingFinished, this, &SettingsDialog::validate);
  connect(device_, &QComboBox::currentIndexChanged, this, &SettingsDialog::validate);
  connect(context_, &QSpinBox::editingFinished, this, &SettingsDialog::validate);
  auto syncSampling = [this] {
    for (QWidget* w : {static_cast<QWidget*>(temperature_), static_cast<QWidget*>(topP_),
                       static_cast<QWidget*>(topK_)})
      w->setEnabled(!greedy_->isChecked());
  };
  connect(greedy_, &QCheckBox::toggled, this, syncSampling);
  syncSampling();

  thread_ = new QThread(this);
  thread_->setObjectName("folio-probe");
  probe_ = new ModelProbe;
  probe_->moveToThread(thread_);
  connect(probe_, &ModelProbe::probed, this, &SettingsDialog::onProbed);
  thread_->start();
  validate();
}

SettingsDialog::~SettingsDialog() {
  // Hiding the dialog (in ~QDialog) moves focus out of the folder field, which would
  // validate once more: nothing may reach the probe after this point.
  disconnect(modelDir_, nullptr, this, nullptr);
  thread_->quit();
  thread_->wait();
  delete probe_;
  probe_ = nullptr;
}

AppSettings SettingsDialog::settings() const {
  AppSettings s;
  s.modelDir = modelDir_->text().trimmed();
  s.device = device_->currentData().toString();
  s.threads = threads_->value();
  s.contextLength = context_->value();
  s.maxNewTokens = maxNew_->value();
  s.greedy = greedy_->isChecked();
  s.temperature = temperature_->value();
  s.topP = topP_->value();
  s.topK = topK_->value();
  s.repetitionPenalty = repetition_->value();
  s.seed = seed_->value();
  return s;
}

void SettingsDialog::setModelDir(const QString& dir) {
  modelDir_->setText(dir);
  validate();
}

void SettingsDialog::browse() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Choose a model folder (config.json, *.safetensors, tokenizer.model)"),
      modelDir_->text());
  if (!dir.isEmpty()) setModelDir(dir);
}

bool SettingsDialog::acceptable() const {
  return !validating_ && (modelDir_->text().trimmed().isEmpty() || error_.isEmpty());
}

void SettingsDialog::validate() {
  if (!probe_) return;
  ++generation_;
  summary_.clear();
  error_.clear();
  const QString dir = modelDir_->text().trimmed();
  if (dir.isEmpty()) {
    validating_ = false;
    modelInfo_->setText(
        tr("No model: Folio answers with quoted passages. Choose a Jamba "
           "checkpoint folder for written answers."));
    buttons_->button(QDialogButtonBox::Ok)->setEnabled(true);
    return;
  }
  validating_ = true;
  modelInfo_->setText(tr("Checking the folder…"));
  buttons_->button(QDialogButtonBox::Ok)->setEnabled(false);
  QMetaObject::invokeMethod(probe_, "probe", Qt::QueuedConnection, Q_ARG(int, generation_),
                            Q_ARG(QString, dir), Q_ARG(QString, device_->currentData().toString()),
                            Q_ARG(int, context_->value()));
}

void SettingsDialog::onProbed(int generation, const QString& summary, const QString& error) {
  if (generation != generation_) return;
  validating_ = false;
  summary_ = summary;
  error_ = error;
  modelInfo_->setText(error.isEmpty()
                          ? summary
                          : tr("<b>This folder cannot be used:</b> %1").arg(error.toHtmlEscaped()));
  buttons_->button(QDialogButtonBox::Ok)->setEnabled(acceptable());
}

}  // namespace folio::ui
