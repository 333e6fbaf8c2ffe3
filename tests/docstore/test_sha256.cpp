// SHA-256 against the FIPS 180-2 example vectors, streamed in arbitrary pieces and over files.
#include <QTemporaryDir>
#include <QtTest>

#include <random>
#include <string>

#include "common/pdf_writer.h"
#include "docstore/sha256.h"

using namespace folio::docstore;

class TestSha256 : public QObject {
  Q_OBJECT
 private slots:
  void matchesFipsVectors() {
    QCOMPARE(Sha256Hex(""),
             std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    QCOMPARE(Sha256Hex("abc"),
             std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    QCOMPARE(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
             std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    QCOMPARE(Sha256Hex(std::string(1000000, 'a')),
             std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  }
  void paddingBoundariesMatchOneShot() {
    // 55, 56, 63, 64 and 65 bytes straddle the length field and block edges.
    for (size_t n : {55, 56, 63, 64, 65, 119, 120}) {
      const std::string s(n, 'q');
      Sha256 h;
      for (char c : s) h.Update(&c, 1);
      QCOMPARE(h.FinalHex(), Sha256Hex(s));
    }
  }
  void streamingInRandomPiecesEqualsOneShot() {
    std::mt19937 rng(1234);
    std::string data(300000, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const std::string expected = Sha256Hex(data);
    for (int trial = 0; trial < 20; ++trial) {
      Sha256 h;
      size_t at = 0;
      while (at < data.size()) {
        const size_t take = std::min<size_t>(data.size() - at, rng() % 200);
        h.Update(data.data() + at, take);
        at += take;
      }
      QCOMPARE(h.FinalHex(), expected);
    }
  }
  void fileHashEqualsMemoryHash() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("x.bin").toStdString();
    std::string data(3 * (1 << 20) + 17, 'z');  // spans several 1 MB reads
    data[12345] = 'y';
    QVERIFY(folio::testing::WriteBytes(path, data));
    auto h = Sha256FileHex(path);
    QVERIFY(h.ok());
    QCOMPARE(*h, Sha256Hex(data));
    // An independent implementation agrees (coreutils), where it is installed.
    QProcess p;
    p.start("sha256sum", {QString::fromStdString(path)});
    if (p.waitForFinished() && p.exitCode() == 0) {
      QCOMPARE(p.readAllStandardOutput().left(64).toStdString(), *h);
    }
  }
  void missingFileIsAnError() {
    auto h = Sha256FileHex("/nonexistent/folio/file");
    QVERIFY(!h.ok());
    QCOMPARE(h.status().code(), folio::ErrorCode::kIo);
  }
};

QTEST_GUILESS_MAIN(TestSha256)
#include "test_sha256.moc"
