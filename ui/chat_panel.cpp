#include "ui/chat_panel.h"

#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTimer>
#include <QVBoxLayout>

#include "ui/text_util.h"

namespace folio::ui {
namespace {

constexpr int kRenderIntervalMs = 60;  // Markdown re-rendered at most this often while streaming

QString ModeName(const QString& mode) {
  if (mode == "whole") return QObject::tr("whole documents");
  if (mode == "retrieval") return QObject::tr("retrieval (excerpts)");
  if (mode == "extractive") return QObject::tr("quotes, no model");
  return mode;
}

}  // namespace

int ConversationsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size()) + 1;
}

QVariant ConversationsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  if (index.row() == 0) {
    if (role == Qt::DisplayRole) return tr("New conversation");
    if (role == IdRole) return qint64{0};
    return {};
  }
  const ConversationRow& c = rows_[index.row() - 1];
  switch (role) {
    case Qt::DisplayRole:
      return c.title.isEmpty() ? tr("(untitled)") : c.title;
    case Qt::ToolTipRole:
      return QDateTime::fromSecsSinceEpoch(c.updatedAt).toString(Qt::TextDate);
    case IdRole:
      return c.id;
    case TitleRole:
      return c.title;
    case DocIdsRole:
      return QVariant::fromValue(c.docIds);
    case UpdatedRole:
      return c.updatedAt;
  }
  return {};
}

QHash<int, QByteArray> ConversationsModel::roleNames() const {
  auto n = QAbstractListModel::roleNames();
  n[IdRole] = "id";
  n[TitleRole] = "title";
  n[DocIdsRole] = "docIds";
  n[UpdatedRole] = "updatedAt";
  return n;
}

void ConversationsModel::setRows(const QList<ConversationRow>& rows) {
  beginResetModel();
  rows_ = rows;
  endResetModel();
}

int ConversationsModel::rowOf(qint64 id) const {
  for (int i = 0; i < rows_.size(); ++i) {
    if (rows_[i].id == id) return i + 1;
  }
  return 0;
}

ChatPanel::ChatPanel(QWidget* parent) : QWidget(parent) {
  conversations_ = new ConversationsModel(this);
  picker_ = new QComboBox;
  picker_->setModel(conversations_);
  picker_->setToolTip(tr("Conversations kept in the library"));
  picker_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  picker_->setMinimumContentsLength(16);
  auto* newButton = new QPushButton(tr("New"));
  newButton->setToolTip(tr("Start a new conversation (Ctrl+N)"));
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Conversation:")));
  top->addWidget(picker_, 1);
  top->addWidget(newButton);

  banner_ = new QLabel;
  banner_->setWordWrap(true);
  banner_->setFrameShape(QFrame::StyledPanel);
  banner_->setBackgroundRole(QPalette::AlternateBase);
  banner_->setAutoFillBackground(true);
  banner_->setMargin(6);

  transcript_ = new QTextBrowser;
  transcript_->setOpenLinks(false);
  transcript_->setPlaceholderText(tr("Ask a question about the checked documents."));

  meter_ = new QProgressBar;
  meter_->setRange(0, 1);
  meter_->setValue(0);
  meter_->setFormat(tr("context: —"));
  meter_->setTextVisible(true);
  meter_->setToolTip(tr("Tokens of the context used by the last question"));

  input_ = new QLineEdit;
  input_->setPlaceholderText(tr("Ask about the checked documents… (Enter)"));
  send_ = new QPushButton(tr("Ask"));
  send_->setDefault(true);
  stop_ = new QPushButton(tr("Stop"));
  stop_->setToolTip(tr("End the answer now (Esc)"));
  stop_->setEnabled(false);
  auto* bottom = new QHBoxLayout;
  bottom->addWidget(input_, 1);
  bottom->addWidget(send_);
  bottom->addWidget(stop_);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(banner_);
  layout->addWidget(transcript_, 1);
  layout->addWidget(meter_);
  layout->addLayout(bottom);

  renderTimer_ = new QTimer(this);
  renderTimer_->setSingleShot(true);
  renderTimer_->setInterval(kRenderIntervalMs);
  connect(renderTimer_, &QTimer::timeout, this, &ChatPanel::render);
  connect(send_, &QPushButton::clicked, this, &ChatPanel::send);
  connect(input_, &QLineEdit::returnPressed, this, &ChatPanel::send);
  connect(stop_, &QPushButton::clicked, this, &ChatPanel::stopRequested);
  connect(newButton, &QPushButton::clicked, this, &ChatPanel::newConversation);
  connect(picker_, &QComboBox::activated, this, [this](int row) {
    const qint64 id = conversations_->index(row).data(ConversationsModel::IdRole).toLongLong();
    if (id == 0) return newConversation();
    if (!answering_) emit conversationChosen(id);
  });
  connect(transcript_, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
    if (auto c = CitationFromUrl(url)) emit citationActivated(*c);
  });
  setModelState(false, {});
}

void ChatPanel::setDocuments(const QList<DocRow>& docs) {
  docs_.clear();
  for (const auto& d : docs) {
    if (d.status == "ready") docs_.push_back(DocRef{d.id, d.title, d.pages});
  }
}

void ChatPanel::setModelState(bool generative, const QString& description) {
  generative_ = generative;
  banner_->setText(
      generative
          ? tr("Model: %1. Answers use only the checked documents and cite pages.").arg(description)
          : tr("<b>No model loaded</b>: answers are quoted passages from your "
               "documents, not written answers. To add a model, open "
               "<b>Settings</b> (Ctrl+,) and choose a Jamba checkpoint folder "
               "(config.json, *.safetensors, tokenizer.model)."));
}

void ChatPanel::setConversations(const QList<ConversationRow>& rows) {
  conversations_->setRows(rows);
  picker_->setCurrentIndex(conversations_->rowOf(conversationId_));
}

void ChatPanel::showConversation(qint64 id, const QList<ChatTurn>& turns) {
  if (answering_) return;
  conversationId_ = id;
  turns_ = turns;
  picker_->setCurrentIndex(conversations_->rowOf(id));
  render();
}

void ChatPanel::newConversation() {
  if (answering_) return;
  conversationId_ = 0;
  turns_.clear();
  picker_->setCurrentIndex(0);
  meter_->setRange(0, 1);
  meter_->setValue(0);
  meter_->setFormat(tr("context: —"));
  render();
  focusInput();
}

void ChatPanel::focusInput() {
  input_->setFocus();
}

void ChatPanel::ask(const QString& question) {
  input_->setText(question);
  send();
}

void ChatPanel::send() {
  const QString q = input_->text().trimmed();
  if (q.isEmpty() || answering_) return;
  input_->clear();
  turns_.push_back(ChatTurn{q, {}, {}});
  answering_ = true;
  send_->setEnabled(false);
  stop_->setEnabled(true);
  render();
  emit askRequested(q, conversationId_);
}

void ChatPanel::answerStarted() {
  answering_ = true;
}

void ChatPanel::appendPiece(const QString& piece) {
  if (turns_.isEmpty()) return;
  turns_.back().answer += piece;
  scheduleRender();
}

void ChatPanel::setContextUsage(qint64 used, qint64 max, const QString& mode) {
  if (max <= 0) {  // quotes: no model context
    meter_->setRange(0, 1);
    meter_->setValue(0);
    meter_->setFormat(tr("context: %1").arg(ModeName(mode)));
    return;
  }
  // QProgressBar holds ints; scale large contexts down.
  const double scale = max > 1'000'000 ? 1000.0 : 1.0;
  meter_->setRange(0, static_cast<int>(max / scale));
  meter_->setValue(static_cast<int>(std::min(used, max) / scale));
  meter_->setFormat(tr("context: %1 of %2 tokens · %3")
                        .arg(QLocale().toString(used), QLocale().toString(max), ModeName(mode)));
}

void ChatPanel::answerFinished(qint64 conversationId, const AnswerInfo& info) {
  answering_ = false;
  send_->setEnabled(true);
  stop_->setEnabled(false);
  if (!turns_.isEmpty()) turns_.back().info = info;
  if (conversationId != 0) conversationId_ = conversationId;
  renderTimer_->stop();
  render();
}

// The quotes of an answer written without a model, from its citations (each with the
// page it came from, as a link), clearly labelled as quotes.
QString ChatPanel::quotesMarkdown(const AnswerInfo& info, const QString& text) const {
  if (info.citations.isEmpty()) return MarkdownEscape(text) + "\n\n";
  QString md = tr("**Quoted passages** (no model is loaded, so these are quotes from your "
                  "documents, not a written answer):") +
               "\n\n";
  for (const auto& c : info.citations) {
    md += QStringLiteral("> %1\n>\n> — [%2, p. %3](%4)\n\n")
              .arg(MarkdownEscape(c.quote), MarkdownEscape(c.title))
              .arg(c.page)
              .arg(CitationUrl(c).toString(QUrl::FullyEncoded));
  }
  return md + tr("*To get written answers, choose a model folder in Settings (Ctrl+,).*") + "\n\n";
}

// One turn as Markdown: the question, then the answer (page references linked, its
// sources listed), or the plain statement that the documents do not contain it.
QString ChatPanel::turnMarkdown(const ChatTurn& t, bool streaming) const {
  QString md = QStringLiteral("**%1** %2\n\n").arg(tr("You:"), MarkdownEscape(t.question));
  const AnswerInfo& info = t.info;
  if (streaming) {
    return md + (t.answer.isEmpty() ? QStringLiteral("*…*") : LinkCitations(t.answer, docs_)) +
           "\n\n";
  }
  if (info.mode == "extractive") {
    md += quotesMarkdown(info, t.answer);
  } else if (!info.inContext && info.error.isEmpty()) {
    md += tr("> **Not in the documents.** The checked documents do not contain an answer to "
             "this question.") +
          "\n\n";
  } else {
    md += LinkCitations(t.answer, docs_) + "\n\n";
    if (!info.citations.isEmpty()) {
      QStringList links;
      for (const auto& c : info.citations) {
        links << QStringLiteral("[%1, p. %2](%3)")
                     .arg(MarkdownEscape(c.title))
                     .arg(c.page)
                     .arg(CitationUrl(c).toString(QUrl::FullyEncoded));
      }
      md += QStringLiteral("**%1** %2\n\n").arg(tr("Sources:"), links.join(QStringLiteral(" · ")));
    }
  }
  if (!info.error.isEmpty()) md += QStringLiteral("*%1 %2*\n\n").arg(tr("Error:"), info.error);
  if (info.stopped) md += QStringLiteral("*%1*\n\n").arg(tr("(stopped)"));
  if (info.mode == "whole" || info.mode == "retrieval") {
    md += QStringLiteral("<sub>%1 · %2 tokens of context · %3 tokens/s</sub>\n\n")
              .arg(ModeName(info.mode), QLocale().toString(info.contextTokens))
              .arg(info.tokensPerSecond, 0, 'f', 1);
  }
  return md;
}

void ChatPanel::scheduleRender() {
  if (!renderTimer_->isActive()) renderTimer_->start();
}

void ChatPanel::render() {
  QScrollBar* bar = transcript_->verticalScrollBar();
  const bool at_bottom = bar->value() >= bar->maximum() - 4;
  QString md;
  for (int i = 0; i < turns_.size(); ++i) {
    if (i > 0) md += "\n---\n\n";
    md += turnMarkdown(turns_[i], answering_ && i == turns_.size() - 1);
  }
  transcript_->setMarkdown(md);
  if (at_bottom) bar->setValue(bar->maximum());
}

QString ChatPanel::transcriptText() const {
  return transcript_->toPlainText();
}

QList<QUrl> ChatPanel::links() const {
  QList<QUrl> out;
  for (QTextBlock b = transcript_->document()->begin(); b.isValid(); b = b.next()) {
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      const QString href = it.fragment().charFormat().anchorHref();
      if (!href.isEmpty()) out.push_back(QUrl(href));
    }
  }
  return out;
}

}  // namespace folio::ui
