// base/hex.h: the one way addresses and values are printed in messages: "0x" + lower-case hex,
// no padding (e.g. 0x1000).
#pragma once

#include <cstdint>
#include <string>

namespace snpemu {

/// "0x" followed by `v` in lower-case hexadecimal without leading zeros ("0x0" for zero).
inline std::string hex(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char buf[18];
  char* p = buf + sizeof buf;
  do {
    *--p = kDigits[v & 15];
    v >>= 4;
  } while (v != 0);
  *--p = 'x';
  *--p = '0';
  return std::string(p, buf + sizeof buf);
}

}  // namespace snpemu
