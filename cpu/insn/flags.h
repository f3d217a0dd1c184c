// cpu/insn/flags.h: flag arithmetic as pure constexpr functions (APM vol 3, 3.x per instruction;
// flag definitions APM vol 1, 3.1.4). Operand sizes are 1, 2, 4 or 8 bytes; inputs may carry
// garbage above the operand size (they are truncated). Each function returns the result, the
// status flags it computed and the mask of flags it writes. Flags the APM calls "undefined" are
// written with a value chosen here (listed in `undefined`) so that callers and tests can ignore
// them; they never read as anything an oracle must match.
#pragma once

#include <bit>
#include <cstdint>

#include "cpu/state.h"

namespace snpemu::cpu {

struct FlagOut {
  uint64_t value = 0;      // result, truncated to the operand size
  uint64_t flags = 0;      // values of the written status flags
  uint64_t written = 0;    // which status flags the instruction writes (defined or not)
  uint64_t undefined = 0;  // which written flags the APM leaves undefined
};

constexpr uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}
constexpr uint64_t sign_bit(unsigned size) { return uint64_t{1} << (8 * size - 1); }
constexpr int64_t to_signed(uint64_t v, unsigned size) {
  unsigned shift = 64 - 8 * size;
  return static_cast<int64_t>(v << shift) >> shift;
}

/// PF, ZF and SF of a result.
constexpr uint64_t szp(uint64_t r, unsigned size) {
  r &= size_mask(size);
  uint64_t f = 0;
  if (std::popcount(static_cast<uint8_t>(r)) % 2 == 0) f |= flag::kPf;
  if (r == 0) f |= flag::kZf;
  if (r & sign_bit(size)) f |= flag::kSf;
  return f;
}

/// ADD / ADC (carry_in 0 or 1).
constexpr FlagOut add(uint64_t a, uint64_t b, uint64_t carry_in, unsigned size) {
  const uint64_t m = size_mask(size);
  a &= m;
  b &= m;
  const uint64_t r = (a + b + carry_in) & m;
  uint64_t f = szp(r, size);
  if (r < a || (carry_in && r == a)) f |= flag::kCf;
  if ((a ^ b ^ r) & 0x10) f |= flag::kAf;
  if ((a ^ r) & (b ^ r) & sign_bit(size)) f |= flag::kOf;
  return {r, f, flag::kStatus, 0};
}

/// SUB / SBB / CMP / NEG (borrow_in 0 or 1).
constexpr FlagOut sub(uint64_t a, uint64_t b, uint64_t borrow_in, unsigned size) {
  const uint64_t m = size_mask(size);
  a &= m;
  b &= m;
  const uint64_t r = (a - b - borrow_in) & m;
  uint64_t f = szp(r, size);
  if (a < b || (borrow_in && a == b)) f |= flag::kCf;
  if ((a ^ b ^ r) & 0x10) f |= flag::kAf;
  if ((a ^ b) & (a ^ r) & sign_bit(size)) f |= flag::kOf;
  return {r, f, flag::kStatus, 0};
}

/// AND / OR / XOR / TEST: CF = OF = 0, AF undefined (written 0).
constexpr FlagOut logic(uint64_t r, unsigned size) {
  r &= size_mask(size);
  return {r, szp(r, size), flag::kStatus, flag::kAf};
}

/// INC / DEC: like ADD / SUB of 1, CF unchanged.
constexpr FlagOut inc(uint64_t a, unsigned size) {
  FlagOut o = add(a, 1, 0, size);
  o.flags &= ~flag::kCf;
  o.written = flag::kStatus & ~flag::kCf;
  return o;
}
constexpr FlagOut dec(uint64_t a, unsigned size) {
  FlagOut o = sub(a, 1, 0, size);
  o.flags &= ~flag::kCf;
  o.written = flag::kStatus & ~flag::kCf;
  return o;
}

/// NEG: 0 - a; CF = (a != 0).
constexpr FlagOut neg(uint64_t a, unsigned size) { return sub(0, a, 0, size); }

/// Masked shift count: 5 bits, 6 for 64-bit operands. APM vol 3, SHL.
constexpr unsigned shift_count(uint64_t count, unsigned size) {
  return static_cast<unsigned>(count & (size == 8 ? 0x3F : 0x1F));
}

/// SHL/SAL. Count 0 writes nothing. OF defined for count 1 only; AF undefined; for counts at
/// or beyond the width CF is undefined (written as the last bit shifted, 0 when beyond).
constexpr FlagOut shl(uint64_t a, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const uint64_t r = c >= bits ? 0 : (a << c) & size_mask(size);
  uint64_t f = szp(r, size);
  const bool cf = c <= bits && ((a >> (bits - c)) & 1);
  if (cf) f |= flag::kCf;
  if (((r & sign_bit(size)) != 0) != cf) f |= flag::kOf;
  uint64_t undef = flag::kAf | (c > 1 ? flag::kOf : 0) | (c >= bits ? flag::kCf : 0);
  return {r, f, flag::kStatus, undef};
}

/// SHR.
constexpr FlagOut shr(uint64_t a, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const uint64_t r = c >= bits ? 0 : a >> c;
  uint64_t f = szp(r, size);
  if (c <= bits && ((a >> (c - 1)) & 1)) f |= flag::kCf;
  if (a & sign_bit(size)) f |= flag::kOf;  // count 1: OF = MSB of the original operand
  uint64_t undef = flag::kAf | (c > 1 ? flag::kOf : 0) | (c >= bits ? flag::kCf : 0);
  return {r, f, flag::kStatus, undef};
}

/// SAR.
constexpr FlagOut sar(uint64_t a, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const int64_t sa = to_signed(a, size);
  const unsigned eff = c >= bits ? bits - 1 : c;
  const uint64_t r = static_cast<uint64_t>(sa >> eff) & size_mask(size);
  uint64_t f = szp(r, size);
  if ((static_cast<uint64_t>(sa >> (c >= bits ? bits - 1 : c - 1))) & 1) f |= flag::kCf;
  uint64_t undef = flag::kAf | (c > 1 ? flag::kOf : 0) | (c >= bits ? flag::kCf : 0);
  return {r, f, flag::kStatus, undef};
}

/// ROL: writes CF and OF only (OF defined for count 1).
constexpr FlagOut rol(uint64_t a, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const unsigned k = c % bits;
  const uint64_t r = k == 0 ? a : ((a << k) | (a >> (bits - k))) & size_mask(size);
  uint64_t f = 0;
  if (r & 1) f |= flag::kCf;
  if (((r & sign_bit(size)) != 0) != ((r & 1) != 0)) f |= flag::kOf;
  return {r, f, flag::kCf | flag::kOf, c > 1 ? flag::kOf : 0};
}

/// ROR.
constexpr FlagOut ror(uint64_t a, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const unsigned k = c % bits;
  const uint64_t r = k == 0 ? a : ((a >> k) | (a << (bits - k))) & size_mask(size);
  uint64_t f = 0;
  if (r & sign_bit(size)) f |= flag::kCf;
  if (((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1) f |= flag::kOf;
  return {r, f, flag::kCf | flag::kOf, c > 1 ? flag::kOf : 0};
}

/// RCL: rotate through CF; count reduced modulo width + 1 for 8/16-bit operands.
constexpr FlagOut rcl(uint64_t a, uint64_t count, bool cf_in, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const unsigned k = size <= 2 ? c % (bits + 1) : c;
  uint64_t r = a;
  bool cf = cf_in;
  for (unsigned i = 0; i < k; ++i) {
    const bool out = (r & sign_bit(size)) != 0;
    r = ((r << 1) | (cf ? 1 : 0)) & size_mask(size);
    cf = out;
  }
  uint64_t f = cf ? flag::kCf : 0;
  if (((r & sign_bit(size)) != 0) != cf) f |= flag::kOf;
  return {r, f, flag::kCf | flag::kOf, c > 1 ? flag::kOf : 0};
}

/// RCR.
constexpr FlagOut rcr(uint64_t a, uint64_t count, bool cf_in, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  a &= size_mask(size);
  if (c == 0) return {a, 0, 0, 0};
  const unsigned k = size <= 2 ? c % (bits + 1) : c;
  uint64_t f = 0;
  if (((a & sign_bit(size)) != 0) != cf_in) f |= flag::kOf;  // count 1: MSB(a) xor CF
  uint64_t r = a;
  bool cf = cf_in;
  for (unsigned i = 0; i < k; ++i) {
    const bool out = r & 1;
    r = (r >> 1) | (cf ? sign_bit(size) : 0);
    cf = out;
  }
  if (cf) f |= flag::kCf;
  return {r, f, flag::kCf | flag::kOf, c > 1 ? flag::kOf : 0};
}

/// SHLD dst, src, count. For 16-bit operands, counts above 16 give an undefined result
/// (computed here as the shift of the 32-bit concatenation dst:src:dst).
constexpr FlagOut shld(uint64_t dst, uint64_t src, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  dst &= size_mask(size);
  src &= size_mask(size);
  if (c == 0) return {dst, 0, 0, 0};
  uint64_t r;
  bool cf;
  if (c <= bits) {
    r = c == bits ? src : ((dst << c) | (src >> (bits - c))) & size_mask(size);
    cf = (dst >> (bits - c)) & 1;
  } else {  // 16-bit, count 17..31
    const uint64_t wide = (dst << 32) | (src << 16) | dst;  // 48 bits
    r = ((wide << c) >> 32) & 0xFFFF;
    cf = (wide >> (48 - c)) & 1;
  }
  uint64_t f = szp(r, size) | (cf ? flag::kCf : 0);
  if ((r ^ dst) & sign_bit(size)) f |= flag::kOf;
  uint64_t undef = flag::kAf | (c > 1 ? flag::kOf : 0) | (c > bits ? flag::kCf : 0);
  return {r, f, flag::kStatus, undef};
}

/// SHRD dst, src, count.
constexpr FlagOut shrd(uint64_t dst, uint64_t src, uint64_t count, unsigned size) {
  const unsigned c = shift_count(count, size);
  const unsigned bits = 8 * size;
  dst &= size_mask(size);
  src &= size_mask(size);
  if (c == 0) return {dst, 0, 0, 0};
  uint64_t r;
  bool cf;
  if (c <= bits) {
    r = c == bits ? src : ((dst >> c) | (src << (bits - c))) & size_mask(size);
    cf = (dst >> (c - 1)) & 1;
  } else {  // 16-bit, count 17..31: shift of dst:src:dst read from the low end
    const uint64_t wide = (dst << 32) | (src << 16) | dst;
    r = (wide >> c) & 0xFFFF;
    cf = (wide >> (c - 1)) & 1;
  }
  uint64_t f = szp(r, size) | (cf ? flag::kCf : 0);
  if ((r ^ dst) & sign_bit(size)) f |= flag::kOf;
  uint64_t undef = flag::kAf | (c > 1 ? flag::kOf : 0) | (c > bits ? flag::kCf : 0);
  return {r, f, flag::kStatus, undef};
}

/// CF = OF for MUL (upper half non-zero) and IMUL (result does not fit); SF ZF AF PF undefined.
constexpr FlagOut mul_flags(bool overflow) {
  const uint64_t f = overflow ? (flag::kCf | flag::kOf) : 0;
  return {0, f, flag::kStatus, flag::kSf | flag::kZf | flag::kAf | flag::kPf};
}

}  // namespace snpemu::cpu
