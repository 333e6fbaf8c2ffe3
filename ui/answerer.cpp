// Page references in streamed answers, resolved and linked for the chat panel (the
// answers themselves come from assistant_answerer.cpp).
#include "ui/answerer.h"

#include <QRegularExpression>

#include "ui/text_util.h"

namespace folio::ui {
namespace {

// "[p. 3]", "[page 3]", "[Title, p. 3]", "(p. 3)", "[pp. 3-4]": group 1 the title, 2 the page.
const QRegularExpression& CitationPattern() {
  static const QRegularExpression re(
      R"([\[(](?:([^\[\]()\n]{1,120}?),\s*)?(?:pp?\.|pages?)\s*(\d{1,5})(?:\s*[-–]\s*\d{1,5})?[\])])",
      QRegularExpression::CaseInsensitiveOption);
  return re;
}

// The document a citation's title names; with one document, that one.
const DocRef* FindDoc(const QString& title, const QList<DocRef>& docs) {
  if (title.trimmed().isEmpty()) return docs.size() == 1 ? &docs.front() : nullptr;
  const QString t = title.trimmed();
  for (const auto& d : docs) {
    if (d.title.compare(t, Qt::CaseInsensitive) == 0) return &d;
  }
  for (const auto& d : docs) {
    if (d.title.contains(t, Qt::CaseInsensitive) || t.contains(d.title, Qt::CaseInsensitive))
      return &d;
  }
  return docs.size() == 1 ? &docs.front() : nullptr;
}

std::optional<Citation> Resolve(const QRegularExpressionMatch& m, const QList<DocRef>& docs) {
  const DocRef* d = FindDoc(m.captured(1), docs);
  const int page = m.captured(2).toInt();
  if (!d || page < 1 || page > d->pages) return std::nullopt;
  return Citation{d->id, d->title, page, {}};
}

}  // namespace

QList<Citation> ResolveCitations(const QString& answer, const QList<DocRef>& docs) {
  QList<Citation> out;
  auto it = CitationPattern().globalMatch(answer);
  while (it.hasNext()) {
    if (auto c = Resolve(it.next(), docs)) {
      const bool seen = std::any_of(out.begin(), out.end(), [&](const Citation& o) {
        return o.docId == c->docId && o.page == c->page;
      });
      if (!seen) out.push_back(*c);
    }
  }
  return out;
}

QString LinkCitations(const QString& answer, const QList<DocRef>& docs) {
  QString out;
  qsizetype last = 0;
  auto it = CitationPattern().globalMatch(answer);
  while (it.hasNext()) {
    const auto m = it.next();
    out += answer.mid(last, m.capturedStart() - last);
    if (auto c = Resolve(m, docs)) {
      QString label = m.captured(0);
      label = label.mid(1, label.size() - 2);
      out += QStringLiteral("[%1](%2)").arg(label, CitationUrl(*c).toString(QUrl::FullyEncoded));
    } else {
      out += m.captured(0);
    }
    last = m.capturedEnd();
  }
  out += answer.mid(last);
  return out;
}

}  // namespace folio::ui
