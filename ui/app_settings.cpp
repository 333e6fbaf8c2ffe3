#include "ui/app_settings.h"

#include <QSettings>

#include "ui/ui_types.h"

namespace folio::ui {

void RegisterUiTypes() {
  qRegisterMetaType<DocRow>();
  qRegisterMetaType<QList<DocRow>>();
  qRegisterMetaType<SearchResult>();
  qRegisterMetaType<QList<SearchResult>>();
  qRegisterMetaType<ReaderDocument>();
  qRegisterMetaType<Citation>();
  qRegisterMetaType<AnswerInfo>();
  qRegisterMetaType<ConversationRow>();
  qRegisterMetaType<QList<ConversationRow>>();
  qRegisterMetaType<ChatTurn>();
  qRegisterMetaType<QList<ChatTurn>>();
  qRegisterMetaType<ModelStatus>();
  qRegisterMetaType<QList<qint64>>();
}

AppSettings AppSettings::Load(QSettings& s) {
  AppSettings a;
  s.beginGroup("model");
  a.modelDir = s.value("dir", a.modelDir).toString();
  a.device = s.value("device", a.device).toString();
  a.threads = s.value("threads", a.threads).toInt();
  a.contextLength = s.value("context", a.contextLength).toInt();
  s.endGroup();
  s.beginGroup("sampling");
  a.maxNewTokens = s.value("max_new_tokens", a.maxNewTokens).toInt();
  a.greedy = s.value("greedy", a.greedy).toBool();
  a.temperature = s.value("temperature", a.temperature).toDouble();
  a.topP = s.value("top_p", a.topP).toDouble();
  a.topK = s.value("top_k", a.topK).toInt();
  a.repetitionPenalty = s.value("repetition_penalty", a.repetitionPenalty).toDouble();
  a.seed = s.value("seed", a.seed).toLongLong();
  s.endGroup();
  if (a.device != "auto" && a.device != "cuda" && a.device != "cpu") a.device = "auto";
  return a;
}

void AppSettings::Save(QSettings& s) const {
  s.beginGroup("model");
  s.setValue("dir", modelDir);
  s.setValue("device", device);
  s.setValue("threads", threads);
  s.setValue("context", contextLength);
  s.endGroup();
  s.beginGroup("sampling");
  s.setValue("max_new_tokens", maxNewTokens);
  s.setValue("greedy", greedy);
  s.setValue("temperature", temperature);
  s.setValue("top_p", topP);
  s.setValue("top_k", topK);
  s.setValue("repetition_penalty", repetitionPenalty);
  s.setValue("seed", seed);
  s.endGroup();
  s.sync();
}

}  // namespace folio::ui
