// The UI's pure parts: citation resolution and linking, answer metadata round trips,
// folio: links, and the library model's rows, roles and checkboxes.
#include <QTest>

#include "ui/answerer.h"
#include "ui/library_model.h"
#include "ui/text_util.h"

using namespace folio::ui;

class UiUnitsTest : public QObject {
  Q_OBJECT
 private slots:
  void pageReferencesResolveToTheNamedDocument() {
    const QList<DocRef> docs{{1, "The Clock That Found Longitude", 3}, {2, "Index Cards", 2}};
    const auto cites = ResolveCitations(
        "Harrison built H4 [The Clock That Found Longitude, p. 2]; slips [Index Cards, p. 1] "
        "and again [Index Cards, page 1].",
        docs);
    QCOMPARE(cites.size(), 2);  // the repeat is kept once
    QCOMPARE(cites[0].docId, qint64{1});
    QCOMPARE(cites[0].page, 2);
    QCOMPARE(cites[1].docId, qint64{2});
    QCOMPARE(cites[1].page, 1);
  }
  void unresolvablePageReferencesAreDropped() {
    const QList<DocRef> two{{1, "Alpha", 3}, {2, "Beta", 2}};
    QVERIFY(ResolveCitations("see [p. 2]", two).isEmpty());        // which document?
    QVERIFY(ResolveCitations("see [Beta, p. 9]", two).isEmpty());  // no such page
    QVERIFY(ResolveCitations("see [Gamma, p. 1]", {{1, "Alpha", 3}}).size() == 1);  // one doc
    QVERIFY(ResolveCitations("no citation here", two).isEmpty());
  }
  void linkedCitationsOpenTheirPage() {
    const QList<DocRef> one{{5, "Alpha", 4}};
    const QString md = LinkCitations("It is on [p. 3] and (page 9).", one);
    QVERIFY(md.startsWith("It is on [p. 3](folio:open?"));
    QVERIFY(md.endsWith("(page 9)."));  // page 9 does not exist: left as text
    const int open = md.indexOf("](") + 2;
    const QUrl url(md.mid(open, md.indexOf(')', open) - open));
    const auto c = CitationFromUrl(url);
    QVERIFY(c);
    QCOMPARE(c->docId, qint64{5});
    QCOMPARE(c->page, 3);
  }
  void citationUrlsRoundTripWithQuotes() {
    const Citation c{42, "T", 7, QString::fromUtf8("caf\xc3\xa9 & the \"quoted\" passage?")};
    const auto back = CitationFromUrl(QUrl(CitationUrl(c).toString(QUrl::FullyEncoded)));
    QVERIFY(back);
    QCOMPARE(back->docId, qint64{42});
    QCOMPARE(back->page, 7);
    QCOMPARE(back->quote, c.quote);
    QVERIFY(!CitationFromUrl(QUrl("https://example.org/open?doc=1&page=2")));
    QVERIFY(!CitationFromUrl(QUrl("folio:open?doc=1&page=0")));
  }
  void answerInfoSurvivesTheMessageJson() {
    AnswerInfo a;
    a.mode = "retrieval";
    a.inContext = false;
    a.citations = {Citation{3, "Doc", 2, "quote"}};
    a.contextTokens = 1234;
    a.contextMax = 8192;
    a.generatedTokens = 55;
    a.tokensPerSecond = 12.5;
    a.stopped = true;
    const AnswerInfo b = AnswerInfoFromJson(AnswerInfoToJson(a));
    QCOMPARE(b.mode, a.mode);
    QCOMPARE(b.inContext, false);
    QCOMPARE(b.citations.size(), 1);
    QCOMPARE(b.citations[0].page, 2);
    QCOMPARE(b.contextTokens, a.contextTokens);
    QCOMPARE(b.contextMax, a.contextMax);
    QCOMPARE(b.stopped, true);
  }
  void libraryModelKeepsChecksAndShowsImports() {
    LibraryModel m;
    DocRow a{1, "A", "/a.pdf", "pdf", 3, 1200, true, "ready", ""};
    DocRow bad{2, "", "/b.pdf", "pdf", 0, 0, true, "failed", "damaged or not a PDF"};
    m.setDocuments({a, bad});
    QCOMPARE(m.checkedIds(), QList<qint64>{1});  // new ready documents come checked
    QVERIFY(!(m.flags(m.index(1, 0)) & Qt::ItemIsUserCheckable));
    QCOMPARE(m.index(1, 0).data(Qt::DisplayRole).toString(), QString("b.pdf"));
    QVERIFY(m.index(1, 0).data(Qt::ToolTipRole).toString().contains("damaged"));
    QVERIFY(m.setData(m.index(0, 0), Qt::Unchecked, Qt::CheckStateRole));
    m.setDocuments({a, bad});  // a refresh keeps the choice
    QVERIFY(m.checkedIds().isEmpty());

    m.importQueued({"/c.md"});
    QCOMPARE(m.rowCount(), 3);
    QCOMPARE(m.index(2, LibraryModel::kStatus).data(LibraryModel::StatusRole).toString(),
             QString("waiting"));
    m.importStarted("/c.md");
    m.importProgress("/c.md", 1, 4);
    QCOMPARE(m.index(2, 0).data(LibraryModel::ProgressRole).toDouble(), 0.25);
    m.importFinished("/c.md");
    QCOMPARE(m.rowCount(), 2);
    QCOMPARE(m.index(0, LibraryModel::kTokens).data().toString(), QString("~1.2k"));
  }
};

QTEST_MAIN(UiUnitsTest)
#include "test_ui_units.moc"
