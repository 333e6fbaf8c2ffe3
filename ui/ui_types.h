// Plain values the UI's workers send to the widgets through queued signals. Everything
// here is a copy (no pointers into a worker's Library), so a value outlives its sender.
#pragma once

#include <QList>
#include <QMetaType>
#include <QPair>
#include <QString>
#include <QStringList>
#include <QVector>

namespace folio::ui {

// One row of the library panel.
struct DocRow {
  qint64 id = 0;
  QString title;
  QString path;
  QString kind;  // "pdf", "text", "markdown"
  int pages = 0;
  qint64 tokens = 0;  // counted by a tokenizer, or estimated (bytes / 4)
  bool tokensEstimated = true;
  QString status;  // "ready", "failed"
  QString error;
};

// One search hit, with highlight spans as QString positions [begin, end).
struct SearchResult {
  qint64 docId = 0;
  QString title;
  int page = 1;
  double score = 0;
  QString snippet;
  QList<QPair<int, int>> spans;
  QStringList words;  // the matched words, for highlighting on the page
  qint64 chunkId = 0;
};

// What the reader needs to show a document.
struct ReaderDocument {
  qint64 id = 0;
  QString title;
  QString path;
  QString kind;
  QStringList pageTexts;  // stored text of every page (PDF fallback, text documents)
};

// A page reference in an answer, resolved to a document the question was about.
struct Citation {
  qint64 docId = 0;
  QString title;
  int page = 1;
  QString quote;  // the passage, when known (highlighted in the reader)
};

// How an answer was produced and what it cost.
struct AnswerInfo {
  QString mode;           // "whole", "retrieval", "extractive"
  bool inContext = true;  // false: the documents do not contain the answer
  QList<Citation> citations;
  qint64 contextTokens = 0;  // prompt tokens used
  qint64 contextMax = 0;     // the context length in force
  int generatedTokens = 0;
  double tokensPerSecond = 0;
  bool stopped = false;       // ended by Stop
  QString error;              // non-empty when the answer failed
  qint64 conversationId = 0;  // where the turn was stored
};

// A stored conversation, for the conversations list.
struct ConversationRow {
  qint64 id = 0;
  QString title;
  QList<qint64> docIds;
  qint64 updatedAt = 0;
};

// One stored turn of a conversation.
struct ChatTurn {
  QString question;
  QString answer;
  AnswerInfo info;
};

// A loaded model, as the status bar shows it.
struct ModelStatus {
  bool loaded = false;
  QString name;    // folder name
  QString device;  // "cpu", "cuda"
  QString detail;  // "Jamba 52B, bf16, 12 GiB"
  qint64 contextMax = 0;
  QString error;  // why loading failed
};

}  // namespace folio::ui

Q_DECLARE_METATYPE(folio::ui::DocRow)
Q_DECLARE_METATYPE(folio::ui::SearchResult)
Q_DECLARE_METATYPE(folio::ui::ReaderDocument)
Q_DECLARE_METATYPE(folio::ui::Citation)
Q_DECLARE_METATYPE(folio::ui::AnswerInfo)
Q_DECLARE_METATYPE(folio::ui::ConversationRow)
Q_DECLARE_METATYPE(folio::ui::ChatTurn)
Q_DECLARE_METATYPE(folio::ui::ModelStatus)

namespace folio::ui {
// Registers the types above for queued connections (once, before any worker starts).
void RegisterUiTypes();
}  // namespace folio::ui
