// Conversions the UI needs between the store's UTF-8 values and Qt's: search hits with
// byte spans -> QString spans, answer metadata <-> the JSON kept with a message, and the
// folio: links that citations and search results open.
#pragma once

#include <QString>
#include <QUrl>
#include <optional>

#include "ui/ui_types.h"

namespace folio::docstore {
struct SearchHit;
}

namespace folio::ui {

SearchResult ToSearchResult(const docstore::SearchHit& hit);

QString AnswerInfoToJson(const AnswerInfo& info);
AnswerInfo AnswerInfoFromJson(const QString& json);

// folio:open?doc=ID&page=N[&quote=...]: what a citation link in the chat carries.
QUrl CitationUrl(const Citation& c);
std::optional<Citation> CitationFromUrl(const QUrl& url);

// `text` as literal Markdown: punctuation that Markdown would read as syntax (headings,
// emphasis, links, lists, HTML) is backslash-escaped.
QString MarkdownEscape(const QString& text);

// The first `n` words of `text` (for finding a passage on a rendered page).
QString FirstWords(const QString& text, int n);

// "12.3k", "1.2M" for token counts; "1.5 GiB" for bytes.
QString CompactCount(qint64 n);
QString HumanBytes(double bytes);

}  // namespace folio::ui
