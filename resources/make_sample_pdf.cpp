// Build-time tool: renders the Markdown sample documents into one multi-page PDF, so the
// sample library has a real PDF (pages, title, author) to import, search and cite.
//   folio-make-sample-pdf OUT.pdf "TITLE" "AUTHOR" IN.md...
// Each input starts on a new page. Runs under QT_QPA_PLATFORM=offscreen.
#include <QFile>
#include <QGuiApplication>
#include <QPageLayout>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFormat>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: folio-make-sample-pdf OUT.pdf TITLE AUTHOR IN.md...\n");
    return 2;
  }
  QGuiApplication app(argc, argv);
  QString markdown;
  for (int i = 4; i < argc; ++i) {
    QFile f(QString::fromLocal8Bit(argv[i]));
    if (!f.open(QIODevice::ReadOnly)) {
      std::fprintf(stderr, "folio-make-sample-pdf: cannot read %s\n", argv[i]);
      return 2;
    }
    markdown += QString::fromUtf8(f.readAll()) + "\n\n";
  }
  QTextDocument doc;
  doc.setMarkdown(markdown);
  // Every top-level heading after the first starts a new page (one chapter per input).
  bool first = true;
  for (QTextBlock b = doc.begin(); b.isValid(); b = b.next()) {
    if (b.blockFormat().headingLevel() != 1) continue;
    if (!first) {
      QTextCursor c(b);
      QTextBlockFormat fmt = b.blockFormat();
      fmt.setPageBreakPolicy(QTextFormat::PageBreak_AlwaysBefore);
      c.setBlockFormat(fmt);
    }
    first = false;
  }
  QFont font("DejaVu Serif");
  font.setPointSizeF(10.5);
  doc.setDefaultFont(font);

  const QString out = QString::fromLocal8Bit(argv[1]);
  QPdfWriter writer(out);
  writer.setTitle(QString::fromUtf8(argv[2]));
  writer.setCreator(QString::fromUtf8(argv[3]));
  writer.setPageSize(QPageSize(QPageSize::A5));
  writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter);
  writer.setResolution(300);
  doc.print(&writer);
  if (!QFile::exists(out) || QFile(out).size() < 1000) {
    std::fprintf(stderr, "folio-make-sample-pdf: writing %s failed\n", argv[1]);
    return 1;
  }
  return 0;
}
