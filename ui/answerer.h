// The chat panel's thin adapter over whatever writes answers, so the widgets do not depend
// on how: today the assistant (app/assistant, assistant_answerer.cpp), with a model or,
// without one, quoting the best passages. It runs on the engine worker's thread with that
// thread's Library connection; `cancel` ends an answer within one decode step.
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
  QList<qint64> docIds;       // empty = every ready document
  qint64 conversationId = 0;  // 0 starts a conversation (stored in the library)
};

// Receives each piece of the answer as it is written (Markdown).
using PieceSink = std::function<void(const QString& piece)>;
// Receives (tokens used, context maximum, mode) once the prompt is known.
using ContextSink = std::function<void(qint64 used, qint64 max, const QString& mode)>;
// Receives (chunks with a vector, chunks in all) while passages are embedded.
using EmbedProgressSink = std::function<void(qint64 done, qint64 total)>;

class Answerer {
 public:
  virtual ~Answerer() = default;
  virtual AnswerInfo Answer(docstore::Library& library, const AnswerRequest& request,
                            const PieceSink& piece, const ContextSink& context,
                            const std::atomic<bool>& cancel) = 0;
  virtual bool generative() const = 0;
  // Stores the loaded model's vector for every chunk of the library at `libraryPath` that
  // lacks one (issue 7), on the caller's thread, which must be the one that answers.
  // Resumable: `cancel` stops it between chunks with the finished part stored, and
  // *cancelled says so. Without a model it does nothing.
  virtual Status EmbedChunks(const QString& libraryPath, const std::atomic<bool>& cancel,
                             const EmbedProgressSink& progress, bool* cancelled) = 0;
};

// Without a model: the passages that best match the question, with document and page.
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
