// The extractive answerer and citation resolution (the model answerer is in
// model_answerer.cpp).
#include "ui/answerer.h"

#include <QRegularExpression>

#include "docstore/search.h"
#include "docstore/store.h"
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

class ExtractiveAnswerer : public Answerer {
 public:
  AnswerInfo Answer(docstore::Library& library, const AnswerRequest& request,
                    const PieceSink& piece, const ContextSink& context,
                    const std::atomic<bool>& cancel) override {
    AnswerInfo info;
    info.mode = "extractive";
    docstore::SearchOptions opt;
    opt.limit = 3;
    opt.snippet_bytes = 360;
    for (qint64 id : request.docIds) opt.doc_ids.push_back(id);
    auto hits = docstore::Search(library, request.question.toStdString(), opt);
    if (!hits.ok()) {
      info.error = QString::fromStdString(hits.status().message());
      return info;
    }
    context(0, 0, info.mode);
    if (hits->empty()) {
      info.inContext = false;
      piece(QStringLiteral("No passage in the selected documents matches these words."));
    } else {
      piece(
          QStringLiteral("**Quoted passages** (no model is loaded, so these are quotes from "
                         "your documents, not a written answer):\n\n"));
    }
    for (const auto& h : *hits) {
      if (cancel.load()) {
        info.stopped = true;
        break;
      }
      const SearchResult r = ToSearchResult(h);
      const Citation c{r.docId, r.title, r.page, r.snippet};
      info.citations.push_back(c);
      piece(QStringLiteral("> %1\n>\n> — [%2, p. %3](%4)\n\n")
                .arg(MarkdownEscape(r.snippet), MarkdownEscape(r.title))
                .arg(r.page)
                .arg(CitationUrl(c).toString(QUrl::FullyEncoded)));
    }
    piece(
        QStringLiteral("\n*To get written answers, choose a model folder in Settings "
                       "(Ctrl+,).*"));
    return info;
  }
  bool generative() const override { return false; }
};

}  // namespace

std::unique_ptr<Answerer> MakeExtractiveAnswerer() {
  return std::make_unique<ExtractiveAnswerer>();
}

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
