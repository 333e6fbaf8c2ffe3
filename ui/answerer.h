// The chat panel's thin adapter over whatever writes answers, so the UI does not depend on
// how: ExtractiveAnswerer quotes the best passages (no model needed); ModelAnswerer runs
// the engine over the selected documents (whole when they fit the context, the best
// passages otherwise) and streams the answer. Both run on the engine worker's thread with
// its own Library connection; `cancel` is polled between tokens and prefill chunks.
#pragma once

#include <QList>
#include <QString>
#include <atomic>
#include <functional>
#include <memory>

#include "engine/status.h"
#include "ui/app_settings.h"
#include "ui/ui_types.h"

namespace folio::docstore {
class Library;
}

namespace folio::ui {

struct AnswerRequest {
  QString question;
  QList<qint64> docIds;     // empty = every ready document
  QList<ChatTurn> history;  // earlier turns of this conversation, oldest first
};

// Receives each piece of the answer as it is written (Markdown).
using PieceSink = std::function<void(const QString& piece)>;
// Receives (tokens used, context maximum, mode) once the prompt is known.
using ContextSink = std::function<void(qint64 used, qint64 max, const QString& mode)>;

class Answerer {
 public:
  virtual ~Answerer() = default;
  virtual AnswerInfo Answer(docstore::Library& library, const AnswerRequest& request,
                            const PieceSink& piece, const ContextSink& context,
                            const std::atomic<bool>& cancel) = 0;
  virtual bool generative() const = 0;
};

// Quotes the passages that best match the question, with document and page, clearly
// labelled as quotes; says how to add a model.
std::unique_ptr<Answerer> MakeExtractiveAnswerer();

struct LoadProgress {
  double fraction = 0;  // 0..1
  QString stage;        // "reading weights"
};
using LoadProgressSink = std::function<void(const LoadProgress&)>;

// Opens the model folder of `settings` on its device (auto = CUDA when this build has it
// and a GPU is there, else CPU) and returns an answerer over it. `status` describes what
// was loaded. kCancelled when `cancel` was set meanwhile.
Result<std::unique_ptr<Answerer>> LoadModelAnswerer(const AppSettings& settings,
                                                    const LoadProgressSink& progress,
                                                    const std::atomic<bool>& cancel,
                                                    ModelStatus* status);

// Page references in `answer` ("[p. 3]", "[Title, p. 3]", "(page 3)") resolved against the
// documents (id, title, pages); unresolvable ones are dropped, never invented.
struct DocRef {
  qint64 id = 0;
  QString title;
  int pages = 0;
};
QList<Citation> ResolveCitations(const QString& answer, const QList<DocRef>& docs);
// `answer` with each resolvable page reference turned into a Markdown link to the reader.
QString LinkCitations(const QString& answer, const QList<DocRef>& docs);

}  // namespace folio::ui
