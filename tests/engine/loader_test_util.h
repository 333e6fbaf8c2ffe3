// Helpers shared by the loader tests: raw safetensors bytes built by hand (so a test can
// make any malformation), files written into a QTemporaryDir, and copies of fixtures.
#pragma once

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QString>
#include <QTemporaryDir>

#include <cstdint>
#include <optional>
#include <string>

namespace folio::testing {

inline QString FixturePath(const QString& rel) {
  return QStringLiteral(FOLIO_FIXTURES_DIR) + "/" + rel;
}

// 8-byte little-endian length (the true length unless `claimed` says otherwise), the
// header text, then `data`.
inline QByteArray RawSafetensors(const QByteArray& header, const QByteArray& data = {},
                                 std::optional<uint64_t> claimed = std::nullopt) {
  const uint64_t n = claimed ? *claimed : static_cast<uint64_t>(header.size());
  QByteArray out;
  for (int i = 0; i < 8; ++i) out.append(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

// Writes bytes to dir/name and returns the path as std::string.
inline std::string WriteBytes(const QString& dir, const QString& name, const QByteArray& bytes) {
  const QString path = dir + "/" + name;
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return {};
  f.write(bytes);
  f.close();
  return path.toStdString();
}

inline QByteArray ReadBytes(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

// Copies every file of a fixture folder into dst (which must exist).
inline bool CopyFixture(const QString& name, const QString& dst) {
  QDir src(FixturePath(name));
  for (const QString& f : src.entryList(QDir::Files)) {
    if (!QFile::copy(src.filePath(f), dst + "/" + f)) return false;
  }
  return true;
}

// F32 values as little-endian bytes.
inline QByteArray F32Bytes(std::initializer_list<float> values) {
  QByteArray out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

}  // namespace folio::testing
