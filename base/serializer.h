// base/serializer.h: one symmetric serialize(Serializer&) per stateful class (STYLE rule 10).
//
// The same function writes and reads:
//   void Foo::serialize(Serializer& s) { s.io("rip", rip_); s.io("pages", pages_); }
// Writing appends little-endian bytes to a buffer; reading consumes them. The first failure
// (truncated input, a value out of range, an unknown magic or version) is kept with the name of
// the field that failed, and every later call does nothing, so a loader just runs serialize()
// and then checks status(). Bad input never crashes and never reads out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace snpemu {

/// Why deserialisation failed: the field that failed and what was wrong.
struct SerializeError {
  std::string field;
  std::string what;
  std::string message() const { return "field '" + field + "': " + what; }
};

class Serializer {
 public:
  /// A serializer that writes into an internal buffer (see bytes()).
  static Serializer writer() { return Serializer(true, {}); }
  /// A serializer that reads from `data`; `data` must outlive it.
  static Serializer reader(std::span<const uint8_t> data) { return Serializer(false, data); }

  bool reading() const { return !writing_; }
  bool writing() const { return writing_; }
  /// The bytes written so far (writer only).
  const std::vector<uint8_t>& bytes() const { return out_; }
  /// Bytes not yet consumed (reader only).
  size_t remaining() const { return in_.size() - pos_; }
  /// OK, or the first failure.
  std::expected<void, SerializeError> status() const {
    if (failed_) return std::unexpected(error_);
    return {};
  }
  bool ok() const { return !failed_; }

  /// Records a failure at `field` (first failure wins). Components use it for semantic checks
  /// of values they read, e.g. an out-of-range enum.
  void fail(std::string_view field, std::string what) {
    if (failed_) return;
    failed_ = true;
    error_ = SerializeError{std::string(field), std::move(what)};
  }

  /// Integers, bools and enums, little-endian, fixed width.
  template <class T>
  requires(std::is_integral_v<T> || std::is_enum_v<T>) void io(std::string_view field, T& value) {
    if (failed_) return;
    if (writing_) {
      const size_t at = out_.size();
      out_.resize(at + sizeof(T));
      std::memcpy(out_.data() + at, &value, sizeof(T));
      return;
    }
    if (remaining() < sizeof(T)) {
      fail(field, "truncated: needs " + std::to_string(sizeof(T)) + " bytes, " +
                      std::to_string(remaining()) + " left");
      return;
    }
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    if constexpr (std::is_same_v<T, bool>) {
      uint8_t raw;
      std::memcpy(&raw, &value, 1);
      if (raw > 1) fail(field, "bool is " + std::to_string(raw) + ", not 0 or 1");
    }
  }

  /// Fixed-size byte arrays (keys, digests, pages).
  void io_bytes(std::string_view field, std::span<uint8_t> bytes) {
    if (failed_) return;
    if (writing_) {
      out_.insert(out_.end(), bytes.begin(), bytes.end());
      return;
    }
    if (remaining() < bytes.size()) {
      fail(field, "truncated: needs " + std::to_string(bytes.size()) + " bytes, " +
                      std::to_string(remaining()) + " left");
      return;
    }
    std::memcpy(bytes.data(), in_.data() + pos_, bytes.size());
    pos_ += bytes.size();
  }

  /// Length-prefixed byte vectors and strings; reading rejects lengths above `max_len`.
  void io(std::string_view field, std::vector<uint8_t>& v, uint64_t max_len = kDefaultMaxLen) {
    io_sized(field, v, max_len);
  }
  void io(std::string_view field, std::string& v, uint64_t max_len = kDefaultMaxLen) {
    io_sized(field, v, max_len);
  }

  /// Writes or checks a format header: a 4-byte magic and a version this reader accepts.
  void header(std::string_view format, uint32_t magic, uint32_t version) {
    uint32_t m = magic, v = version;
    io("magic", m);
    if (failed_ || writing_) {
      io("version", v);
      return;
    }
    if (m != magic) {
      fail("magic", "not a " + std::string(format) + " (magic " + hex32(m) + ", expected " +
                        hex32(magic) + ")");
      return;
    }
    io("version", v);
    if (ok() && v != version) {
      fail("version", std::string(format) + " version " + std::to_string(v) +
                          " is not supported (this build reads version " + std::to_string(version) +
                          ")");
    }
  }

  static constexpr uint64_t kDefaultMaxLen = uint64_t{1} << 30;

 private:
  Serializer(bool writing, std::span<const uint8_t> in) : writing_(writing), in_(in) {}

  template <class C>
  void io_sized(std::string_view field, C& v, uint64_t max_len) {
    uint64_t n = v.size();
    io(field, n);
    if (failed_) return;
    if (writing_) {
      const size_t at = out_.size();
      out_.resize(at + n);
      if (n != 0) std::memcpy(out_.data() + at, v.data(), n);
      return;
    }
    if (n > max_len || n > remaining()) {
      fail(field, "length " + std::to_string(n) + " exceeds " +
                      (n > max_len ? "the limit " + std::to_string(max_len)
                                   : "the " + std::to_string(remaining()) + " bytes left"));
      return;
    }
    v.resize(n);
    if (n != 0) std::memcpy(v.data(), in_.data() + pos_, n);
    pos_ += n;
  }

  static std::string hex32(uint32_t v) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s = "0x";
    for (int shift = 28; shift >= 0; shift -= 4) s += kHex[(v >> shift) & 15];
    return s;
  }

  bool writing_;
  std::vector<uint8_t> out_;
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool failed_ = false;
  SerializeError error_;
};

}  // namespace snpemu
