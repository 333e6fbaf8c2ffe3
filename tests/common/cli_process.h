// Runs the built folio-cli as a separate process, as a user would, and collects its exit
// code and output (the CLI suites check exit codes and the one-line error promise).
#pragma once

#include <QProcess>
#include <QString>
#include <QStringList>

namespace folio::testing {

inline const QString kFolioCli = QStringLiteral(FOLIO_BINARY_DIR "/bin/folio-cli");

struct CliRun {
  int code = -1;  // -1: did not finish in time, or crashed (a signal)
  QString out, err;
};

inline CliRun RunFolioCli(const QStringList& args, int timeout_ms = 120000) {
  QProcess p;
  p.start(kFolioCli, args);
  CliRun r;
  if (!p.waitForFinished(timeout_ms) || p.exitStatus() != QProcess::NormalExit) return r;
  r.code = p.exitCode();
  r.out = QString::fromUtf8(p.readAllStandardOutput());
  r.err = QString::fromUtf8(p.readAllStandardError());
  return r;
}

}  // namespace folio::testing
