#include "ui/store_worker.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <map>

#include "docstore/search.h"
#include "docstore/store.h"
#include "ui/library_connection.h"
#include "ui/text_util.h"

namespace folio::ui {
namespace {

// Bytes of stored text per document and, where every chunk has been counted by a
// tokenizer, the counted tokens (chunks overlap by ~15%, so the sum is scaled by text
// bytes / chunk bytes).
constexpr const char kDocumentTextSizes[] =
    "SELECT doc_id, SUM(LENGTH(CAST(text AS BLOB))) FROM pages GROUP BY doc_id";
constexpr const char kDocumentChunkTokens[] =
    "SELECT doc_id, SUM(LENGTH(CAST(text AS BLOB))), SUM(token_count), COUNT(*), "
    "COUNT(token_count) FROM chunks GROUP BY doc_id";
constexpr const char kConversations[] =
    "SELECT id, title, doc_ids, updated_at FROM conversations ORDER BY updated_at DESC, id DESC";
constexpr const char kConversationDocs[] = "SELECT doc_ids FROM conversations WHERE id = ?1";

QList<qint64> ParseIdArray(const std::string& json) {
  QList<qint64> ids;
  const auto arr = QJsonDocument::fromJson(QByteArray::fromStdString(json)).array();
  for (const auto& v : arr) ids.push_back(v.toInteger());
  return ids;
}

// Token counts per document id (see kDocumentChunkTokens).
std::map<int64_t, std::pair<qint64, bool>> TokenCounts(docstore::sql::Database& db) {
  std::map<int64_t, std::pair<qint64, bool>> out;  // id -> (tokens, estimated)
  std::map<int64_t, int64_t> text_bytes;
  if (auto st = db.Prepare(kDocumentTextSizes); st.ok()) {
    while (true) {
      auto row = st->Step();
      if (!row.ok() || !*row) break;
      text_bytes[st->ColumnInt64(0)] = st->ColumnInt64(1);
      out[st->ColumnInt64(0)] = {st->ColumnInt64(1) / 4, true};
    }
  }
  if (auto st = db.Prepare(kDocumentChunkTokens); st.ok()) {
    while (true) {
      auto row = st->Step();
      if (!row.ok() || !*row) break;
      const int64_t id = st->ColumnInt64(0), chunk_bytes = st->ColumnInt64(1);
      if (st->ColumnInt64(3) == 0 || st->ColumnInt64(3) != st->ColumnInt64(4) || chunk_bytes == 0)
        continue;
      const double scale = static_cast<double>(text_bytes[id]) / static_cast<double>(chunk_bytes);
      out[id] = {static_cast<qint64>(static_cast<double>(st->ColumnInt64(2)) * scale), false};
    }
  }
  return out;
}

}  // namespace

StoreWorker::StoreWorker(QString libraryPath) : path_(std::move(libraryPath)) {}
StoreWorker::~StoreWorker() = default;

docstore::Library* StoreWorker::library() {
  docstore::Library* lib = OpenLibraryOnce(path_, library_, &openError_);
  if (!lib) emit failed(openError_);
  return lib;
}

void StoreWorker::listDocuments() {
  auto* lib = library();
  if (!lib) return emit documentsListed({});
  auto docs = lib->ListDocuments();
  if (!docs.ok()) {
    emit failed(QString::fromStdString(docs.status().message()));
    return emit documentsListed({});
  }
  const auto tokens = TokenCounts(lib->database());
  QList<DocRow> rows;
  for (const auto& d : *docs) {
    DocRow r;
    r.id = d.id;
    r.title = QString::fromStdString(d.title);
    r.path = QString::fromStdString(d.path);
    r.kind = docstore::DocumentKindName(d.kind);
    r.pages = d.pages;
    r.status = QString::fromStdString(d.status);
    r.error = QString::fromStdString(d.error);
    if (auto it = tokens.find(d.id); it != tokens.end()) {
      r.tokens = it->second.first;
      r.tokensEstimated = it->second.second;
    }
    rows.push_back(r);
  }
  emit documentsListed(rows);
}

void StoreWorker::search(const QString& text, const QList<qint64>& docIds, int generation) {
  auto* lib = library();
  if (!lib) return emit searchFinished(generation, {}, openError_);
  docstore::SearchOptions opt;
  opt.limit = 30;
  for (qint64 id : docIds) opt.doc_ids.push_back(id);
  auto hits = docstore::Search(*lib, text.toStdString(), opt);
  if (!hits.ok()) {
    return emit searchFinished(generation, {}, QString::fromStdString(hits.status().message()));
  }
  QList<SearchResult> results;
  for (const auto& h : *hits) results.push_back(ToSearchResult(h));
  emit searchFinished(generation, results, QString());
}

void StoreWorker::loadForReader(qint64 docId, int page, const QStringList& highlights) {
  auto* lib = library();
  if (!lib) return;
  auto info = lib->GetDocument(docId);
  if (!info.ok()) return emit failed(QString::fromStdString(info.status().message()));
  ReaderDocument doc;
  doc.id = docId;
  doc.title = QString::fromStdString(info->title);
  doc.path = QString::fromStdString(info->path);
  doc.kind = docstore::DocumentKindName(info->kind);
  for (int p = 1; p <= info->pages; ++p) {
    auto pg = lib->GetPage(docId, p);
    doc.pageTexts.push_back(pg.ok() ? QString::fromStdString(pg->text) : QString());
  }
  emit readerDocumentLoaded(doc, page, highlights);
}

void StoreWorker::removeDocument(qint64 docId) {
  auto* lib = library();
  if (!lib) return emit documentRemoved(docId, openError_);
  const Status st = lib->RemoveDocument(docId);
  emit documentRemoved(docId, st.ok() ? QString() : QString::fromStdString(st.message()));
  listDocuments();
}

void StoreWorker::listConversations() {
  auto* lib = library();
  QList<ConversationRow> rows;
  if (lib) {
    if (auto st = lib->database().Prepare(kConversations); st.ok()) {
      while (true) {
        auto row = st->Step();
        if (!row.ok() || !*row) break;
        ConversationRow c;
        c.id = st->ColumnInt64(0);
        c.title = QString::fromStdString(st->ColumnText(1));
        c.docIds = ParseIdArray(st->ColumnText(2));
        c.updatedAt = st->ColumnInt64(3);
        rows.push_back(c);
      }
    }
  }
  emit conversationsListed(rows);
}

void StoreWorker::loadConversation(qint64 conversationId) {
  auto* lib = library();
  if (!lib) return;
  QList<qint64> docIds;
  if (auto st = lib->database().Prepare(kConversationDocs); st.ok()) {
    st->Bind(1, static_cast<int64_t>(conversationId));
    if (auto row = st->Step(); row.ok() && *row) docIds = ParseIdArray(st->ColumnText(0));
  }
  auto messages = lib->ListMessages(conversationId);
  if (!messages.ok()) return emit failed(QString::fromStdString(messages.status().message()));
  QList<ChatTurn> turns;
  for (const auto& m : *messages) {
    if (m.role == "user") {
      turns.push_back(ChatTurn{QString::fromStdString(m.text), {}, {}});
    } else if (m.role == "assistant" && !turns.isEmpty()) {
      turns.back().answer = QString::fromStdString(m.text);
      turns.back().info = AnswerInfoFromJson(QString::fromStdString(m.meta_json));
    }
  }
  emit conversationLoaded(conversationId, docIds, turns);
}

}  // namespace folio::ui
