// What the settings dialog edits and QSettings remembers: the model folder, device,
// threads, context length and sampling.
#pragma once

#include <QString>

class QSettings;

namespace folio::ui {

struct AppSettings {
  QString modelDir;          // "" = no model (extractive answers)
  QString device = "auto";   // "auto", "cuda", "cpu"
  int threads = 0;           // 0 = all cores
  int contextLength = 8192;  // tokens; capped by the model's maximum
  int maxNewTokens = 512;
  bool greedy = false;
  double temperature = 0.7;
  double topP = 0.9;
  int topK = 40;
  double repetitionPenalty = 1.1;
  qint64 seed = 0;

  static AppSettings Load(QSettings& s);
  void Save(QSettings& s) const;
  bool operator==(const AppSettings&) const = default;
};

}  // namespace folio::ui
