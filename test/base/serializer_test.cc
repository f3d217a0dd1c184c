// Tests of the symmetric Serializer: round trips, and every malformed input named by field.
#include "base/serializer.h"

#include <gtest/gtest.h>

#include <array>

namespace snpemu {
namespace {

enum class Color : uint8_t { kRed = 1, kBlue = 2 };

struct Sample {
  uint64_t rip = 0;
  uint8_t cpl = 0;
  bool halted = false;
  Color color = Color::kRed;
  std::array<uint8_t, 4> key{};
  std::vector<uint8_t> blob;
  std::string name;

  void serialize(Serializer& s) {
    s.header("sample", 0x504D4153, 3);
    s.io("rip", rip);
    s.io("cpl", cpl);
    s.io("halted", halted);
    s.io("color", color);
    if (s.reading() && s.ok() && color != Color::kRed && color != Color::kBlue) {
      s.fail("color", "unknown color " + std::to_string(static_cast<int>(color)));
    }
    s.io_bytes("key", key);
    s.io("blob", blob, 16);
    s.io("name", name);
  }
};

std::vector<uint8_t> encode(Sample v) {
  Serializer w = Serializer::writer();
  v.serialize(w);
  return w.bytes();
}

TEST(Serializer, RoundTripIsExact) {
  Sample a{0xFFFF'8000'0000'1234, 3, true, Color::kBlue, {1, 2, 3, 4}, {9, 8, 7}, "vcpu0"};
  const auto bytes = encode(a);
  Sample b;
  Serializer r = Serializer::reader(bytes);
  b.serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(b.rip, a.rip);
  EXPECT_EQ(b.cpl, 3);
  EXPECT_TRUE(b.halted);
  EXPECT_EQ(b.color, Color::kBlue);
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(b.blob, a.blob);
  EXPECT_EQ(b.name, "vcpu0");
  EXPECT_EQ(encode(b), bytes) << "re-encoding is byte-identical";
}

std::string load_error(const std::vector<uint8_t>& bytes) {
  Sample s;
  Serializer r = Serializer::reader(bytes);
  s.serialize(r);
  return r.ok() ? "ok" : r.status().error().message();
}

TEST(Serializer, EveryTruncationNamesTheFieldThatFailed) {
  const auto bytes = encode(Sample{1, 0, false, Color::kRed, {}, {1, 2}, "x"});
  // Layout: magic 4, version 4, rip 8, cpl 1, halted 1, color 1, key 4, blob 8+2, name 8+1.
  EXPECT_EQ(load_error({bytes.begin(), bytes.begin() + 2}),
            "field 'magic': truncated: needs 4 bytes, 2 left");
  EXPECT_EQ(load_error({bytes.begin(), bytes.begin() + 12}),
            "field 'rip': truncated: needs 8 bytes, 4 left");
  EXPECT_EQ(load_error({bytes.begin(), bytes.begin() + 20}),
            "field 'key': truncated: needs 4 bytes, 1 left");
  EXPECT_EQ(load_error({bytes.begin(), bytes.end() - 1}),
            "field 'name': length 1 exceeds the 0 bytes left");
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_NE(load_error({bytes.begin(), bytes.begin() + n}), "ok") << "prefix of " << n;
  }
}

TEST(Serializer, BadValuesAreRejected) {
  auto bytes = encode(Sample{});
  bytes[0] ^= 1;
  EXPECT_EQ(load_error(bytes),
            "field 'magic': not a sample (magic 0x504d4152, expected 0x504d4153)");
  bytes = encode(Sample{});
  bytes[4] = 4;
  EXPECT_EQ(load_error(bytes),
            "field 'version': sample version 4 is not supported (this build reads version 3)");
  bytes = encode(Sample{});
  bytes[17] = 2;  // halted
  EXPECT_EQ(load_error(bytes), "field 'halted': bool is 2, not 0 or 1");
  bytes = encode(Sample{});
  bytes[18] = 7;  // color
  EXPECT_EQ(load_error(bytes), "field 'color': unknown color 7");
  Sample big;
  big.blob.assign(17, 0);
  EXPECT_EQ(load_error(encode(big)), "field 'blob': length 17 exceeds the limit 16");
}

}  // namespace
}  // namespace snpemu
