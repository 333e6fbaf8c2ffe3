#include "ui/text_util.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QUrlQuery>

#include "docstore/search.h"

namespace folio::ui {
namespace {

// QString position of UTF-8 byte offset `byte` in `utf8` (offsets fall on characters).
int QtPosition(const std::string& utf8, int byte) {
  byte = std::clamp(byte, 0, static_cast<int>(utf8.size()));
  return static_cast<int>(QString::fromUtf8(utf8.data(), byte).size());
}

}  // namespace

SearchResult ToSearchResult(const docstore::SearchHit& hit) {
  SearchResult r;
  r.docId = hit.doc_id;
  r.title = QString::fromStdString(hit.title);
  r.page = hit.page;
  r.score = hit.score;
  r.snippet = QString::fromStdString(hit.snippet);
  r.chunkId = hit.chunk_id;
  for (const auto& s : hit.spans) {
    const int b = QtPosition(hit.snippet, s.begin), e = QtPosition(hit.snippet, s.end);
    if (e <= b) continue;
    r.spans.push_back({b, e});
    const QString word = r.snippet.mid(b, e - b);
    if (!r.words.contains(word, Qt::CaseInsensitive)) r.words.push_back(word);
  }
  return r;
}

QString AnswerInfoToJson(const AnswerInfo& info) {
  QJsonObject o;
  o["mode"] = info.mode;
  o["in_context"] = info.inContext;
  QJsonArray cites;
  for (const auto& c : info.citations) {
    cites.append(
        QJsonObject{{"doc_id", c.docId}, {"title", c.title}, {"page", c.page}, {"quote", c.quote}});
  }
  o["citations"] = cites;
  o["context_tokens"] = info.contextTokens;
  o["context_max"] = info.contextMax;
  o["generated_tokens"] = info.generatedTokens;
  o["tokens_per_s"] = info.tokensPerSecond;
  o["stopped"] = info.stopped;
  if (!info.error.isEmpty()) o["error"] = info.error;
  return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

AnswerInfo AnswerInfoFromJson(const QString& json) {
  const QJsonObject o = QJsonDocument::fromJson(json.toUtf8()).object();
  AnswerInfo info;
  info.mode = o.value("mode").toString();
  info.inContext = o.value("in_context").toBool(true);
  for (const auto& v : o.value("citations").toArray()) {
    const QJsonObject c = v.toObject();
    info.citations.push_back(Citation{c.value("doc_id").toInteger(), c.value("title").toString(),
                                      c.value("page").toInt(1), c.value("quote").toString()});
  }
  info.contextTokens = o.value("context_tokens").toInteger();
  info.contextMax = o.value("context_max").toInteger();
  info.generatedTokens = o.value("generated_tokens").toInt();
  info.tokensPerSecond = o.value("tokens_per_s").toDouble();
  info.stopped = o.value("stopped").toBool();
  info.error = o.value("error").toString();
  return info;
}

QUrl CitationUrl(const Citation& c) {
  QUrl url;
  url.setScheme("folio");
  url.setPath("open");
  QUrlQuery q;
  q.addQueryItem("doc", QString::number(c.docId));
  q.addQueryItem("page", QString::number(c.page));
  if (!c.quote.isEmpty()) q.addQueryItem("quote", FirstWords(c.quote, 12));
  url.setQuery(q);
  return url;
}

std::optional<Citation> CitationFromUrl(const QUrl& url) {
  if (url.scheme() != "folio" || url.path() != "open") return std::nullopt;
  const QUrlQuery q(url);
  bool ok_doc = false, ok_page = false;
  Citation c;
  c.docId = q.queryItemValue("doc").toLongLong(&ok_doc);
  c.page = q.queryItemValue("page").toInt(&ok_page);
  c.quote = q.queryItemValue("quote", QUrl::FullyDecoded);
  if (!ok_doc || !ok_page || c.page < 1) return std::nullopt;
  return c;
}

QString MarkdownEscape(const QString& text) {
  static const QString kSyntax = QStringLiteral("\\`*_[]()#+-!<>|~{}");
  QString out;
  out.reserve(text.size() + 16);
  for (QChar c : text) {
    if (kSyntax.contains(c)) out += QLatin1Char('\\');
    out += c;
  }
  return out;
}

QString FirstWords(const QString& text, int n) {
  static const QRegularExpression kSpace("\\s+");
  QStringList words = text.simplified().split(kSpace, Qt::SkipEmptyParts);
  // Snippets start with "…" where cut: a partial word would not be found on the page.
  if (!words.isEmpty() && words.front().startsWith(QChar(0x2026))) words.pop_front();
  return words.mid(0, n).join(' ');
}

QString CompactCount(qint64 n) {
  if (n < 1000) return QString::number(n);
  if (n < 1000000) return QString::number(n / 1000.0, 'f', n < 10000 ? 1 : 0) + "k";
  return QString::number(n / 1e6, 'f', 1) + "M";
}

QString HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return QString::number(bytes, 'f', u == 0 ? 0 : 1) + " " + units[u];
}

}  // namespace folio::ui
