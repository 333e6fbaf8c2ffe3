// folio: the desktop app. `folio [--library PATH] [--screenshot-tour OUTDIR]`,
// `folio --version`. The library is --library, else $FOLIO_LIBRARY, else the XDG default.
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <cstdio>
#include <cstring>
#include <optional>

#include "app/version.h"
#include "docstore/store.h"
#include "ui/main_window.h"
#include "ui/screenshot_tour.h"

int main(int argc, char** argv) {
  // --version and --help answer without a display.
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--version") || !std::strcmp(argv[i], "-v")) {
      std::printf("folio %s\n", folio::kFolioVersion);
      return 0;
    }
  }
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Folio");
  QApplication::setApplicationName("Folio");
  QApplication::setApplicationVersion(folio::kFolioVersion);

  QCommandLineParser parser;
  parser.setApplicationDescription("Folio: answers from your own documents, with their pages.");
  parser.addHelpOption();
  QCommandLineOption library("library",
                             "The library file (default: $FOLIO_LIBRARY, else "
                             "~/.local/share/folio/library.sqlite).",
                             "PATH");
  QCommandLineOption tour("screenshot-tour",
                          "Open each panel in turn, save a PNG of each into OUTDIR, and quit.",
                          "OUTDIR");
  parser.addOption(library);
  parser.addOption(tour);
  parser.process(app);

  std::optional<std::string> flag;
  if (parser.isSet(library)) flag = parser.value(library).toStdString();
  auto path = folio::docstore::ResolveLibraryPath(flag);
  if (!path.ok()) {
    std::fprintf(stderr, "folio: %s\n", path.status().message().c_str());
    return 2;
  }
  folio::ui::MainWindowOptions options;
  options.libraryPath = QString::fromStdString(*path);
  options.samplesDir = folio::ui::FindSamplesDir();
  folio::ui::MainWindow window(options);
  window.show();
  std::unique_ptr<folio::ui::ScreenshotTour> screenshots;
  if (parser.isSet(tour)) {
    screenshots = std::make_unique<folio::ui::ScreenshotTour>(&window, parser.value(tour));
    screenshots->start();
  }
  return app.exec();
}
