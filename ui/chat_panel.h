// The chat: the conversation rendered as Markdown while the answer streams (re-rendered at
// most every ~60 ms), Stop (and Esc) to end an answer, citations as folio: links that open
// the reader, "not in the documents" shown as such, a context meter, and the stored
// conversations listed and reopened.
#pragma once

#include <QAbstractListModel>
#include <QList>
#include <QUrl>
#include <QWidget>

#include "ui/answerer.h"
#include "ui/ui_types.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTextBrowser;
class QTimer;

namespace folio::ui {

class ConversationsModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Role { IdRole = Qt::UserRole + 1, TitleRole, DocIdsRole, UpdatedRole };
  using QAbstractListModel::QAbstractListModel;
  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;
  void setRows(const QList<ConversationRow>& rows);  // row 0 is always "New conversation"
  int rowOf(qint64 id) const;

 private:
  QList<ConversationRow> rows_;
};

class ChatPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChatPanel(QWidget* parent = nullptr);

  // The library's documents (to resolve and link page citations while streaming).
  void setDocuments(const QList<DocRow>& docs);
  // No model: answers are quotes; the panel says so and how to add a model.
  void setModelState(bool generative, const QString& description);
  void setConversations(const QList<ConversationRow>& rows);
  void showConversation(qint64 id, const QList<ChatTurn>& turns);

  // From the engine worker.
  void answerStarted();
  void appendPiece(const QString& piece);
  void setContextUsage(qint64 used, qint64 max, const QString& mode);
  void answerFinished(qint64 conversationId, const AnswerInfo& info);

  bool answering() const { return answering_; }
  qint64 conversationId() const { return conversationId_; }
  const QList<ChatTurn>& turns() const { return turns_; }
  QString transcriptText() const;  // plain text of what is shown
  QList<QUrl> links() const;       // every link in the transcript, in order
  QTextBrowser* transcript() const { return transcript_; }
  QLineEdit* input() const { return input_; }
  QPushButton* stopButton() const { return stop_; }
  QProgressBar* contextMeter() const { return meter_; }
  void focusInput();

 public slots:
  void ask(const QString& question);  // as if typed and sent
  void newConversation();

 signals:
  void askRequested(const QString& question, qint64 conversationId);
  void stopRequested();
  void conversationChosen(qint64 id);
  void citationActivated(const folio::ui::Citation& citation);

 private:
  void send();
  void scheduleRender();
  void render();
  QString turnMarkdown(const ChatTurn& t, bool streaming) const;
  QString quotesMarkdown(const AnswerInfo& info, const QString& text) const;

  QList<DocRef> docs_;
  QList<ChatTurn> turns_;
  qint64 conversationId_ = 0;
  bool answering_ = false;
  bool generative_ = false;

  ConversationsModel* conversations_;
  QComboBox* picker_;
  QLabel* banner_;
  QTextBrowser* transcript_;
  QProgressBar* meter_;
  QLineEdit* input_;
  QPushButton* send_;
  QPushButton* stop_;
  QTimer* renderTimer_;
};

}  // namespace folio::ui
