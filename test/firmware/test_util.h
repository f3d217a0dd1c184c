// test/firmware/test_util.h: helpers for firmware tests: test data files, hex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace snpemu::fw::test {

/// Contents of test/firmware/testdata/`name`, found through TEST_SRCDIR (Bazel runfiles).
/// Fails the current test (and returns empty) if the file cannot be read.
std::string read_testdata(std::string_view name);
/// Bytes of a hex string; whitespace ignored. Fails the current test on a bad digit.
std::vector<uint8_t> from_hex(std::string_view hex);
/// Lower-case hex of `bytes`.
std::string to_hex(const uint8_t* bytes, size_t size);
template <class C>
std::string to_hex(const C& c) {
  return to_hex(c.data(), c.size());
}

}  // namespace snpemu::fw::test
