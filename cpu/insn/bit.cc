// cpu/insn/bit.cc: BT BTS BTR BTC BSF BSR TZCNT LZCNT POPCNT BSWAP. APM vol 3, chapter 3.
#include <bit>

#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

enum class Bt : uint8_t { kTest, kSet, kReset, kComplement };

// BTx Ev, Gv|Ib. A register bit offset into memory is signed and may reach outside the operand
// (APM vol 3, BT); an immediate offset is taken modulo the operand width.
template <Bt K>
Outcome bit_test(Exec& x) {
  const unsigned n = x.size(0);
  const unsigned bits = 8 * n;
  auto off = x.read(1);
  if (!off) return off.error();
  const bool from_reg = x.d.row->ops[1] == Op::Gv;
  uint64_t addr = x.ea;
  unsigned bit;
  if (x.d.mem && from_reg) {
    const int64_t so = to_signed(*off & size_mask(n), n);
    const int64_t unit = so >= 0 ? so / bits : -((-so + bits - 1) / bits);
    addr += static_cast<uint64_t>(unit * static_cast<int64_t>(n));
    if (x.d.addrsize == 4) addr &= 0xFFFFFFFF;
    bit = static_cast<unsigned>(so - unit * static_cast<int64_t>(bits));
  } else {
    bit = static_cast<unsigned>(*off & (bits - 1));
  }
  uint64_t v;
  if (x.d.mem) {
    auto m = x.load(addr, n);
    if (!m) return m.error();
    v = *m;
  } else {
    v = x.gpr(x.d.rm, n);
  }
  const bool old = (v >> bit) & 1;
  if constexpr (K != Bt::kTest) {
    const uint64_t b = uint64_t{1} << bit;
    const uint64_t nv = K == Bt::kSet ? (v | b) : K == Bt::kReset ? (v & ~b) : (v ^ b);
    if (x.d.mem) {
      if (Outcome o = x.store(addr, n, nv); o.kind != Outcome::Kind::kNext) return o;
    } else {
      x.set_gpr(x.d.rm, n, nv);
    }
  }
  // CF = the bit; OF SF AF PF undefined (left unchanged here).
  x.set_flags({0, old ? flag::kCf : 0, flag::kCf, 0});
  return kNext;
}

enum class Scan : uint8_t { kBsf, kBsr, kTzcnt, kLzcnt, kPopcnt };

template <Scan K>
Outcome scan(Exec& x) {
  const unsigned n = x.size(0);
  auto src = x.read(1);
  if (!src) return src.error();
  const uint64_t v = *src & size_mask(n);
  const unsigned bits = 8 * n;
  switch (K) {
    case Scan::kBsf: case Scan::kBsr:
      // Source 0: ZF = 1, destination unchanged (APM vol 3, BSF/BSR). CF OF SF AF PF undefined.
      if (v == 0) {
        x.set_flags({0, flag::kZf, flag::kZf, 0});
        return kNext;
      }
      x.set_gpr(x.d.reg, n, K == Scan::kBsf ? std::countr_zero(v) : 63 - std::countl_zero(v));
      x.set_flags({0, 0, flag::kZf, 0});
      return kNext;
    case Scan::kTzcnt: case Scan::kLzcnt: {
      const unsigned c = v == 0 ? bits
                         : K == Scan::kTzcnt ? static_cast<unsigned>(std::countr_zero(v))
                                             : static_cast<unsigned>(std::countl_zero(v)) - (64 - bits);
      x.set_gpr(x.d.reg, n, c);
      x.set_flags({0, (v == 0 ? flag::kCf : 0) | (c == 0 ? flag::kZf : 0), flag::kCf | flag::kZf, 0});
      return kNext;
    }
    case Scan::kPopcnt:
      x.set_gpr(x.d.reg, n, static_cast<uint64_t>(std::popcount(v)));
      x.set_flags({0, v == 0 ? flag::kZf : 0, flag::kStatus, 0});
      return kNext;
  }
  return kNext;
}

// BSWAP: 32 or 64 bits; a 16-bit operand gives an undefined result (here: zero, as QEMU).
Outcome bswap(Exec& x) {
  const unsigned n = x.d.opsize;
  const uint64_t v = x.gpr(x.d.rm, n);
  uint64_t r = 0;
  if (n == 8) r = std::byteswap(v);
  if (n == 4) r = std::byteswap(static_cast<uint32_t>(v));
  x.set_gpr(x.d.rm, n, r);
  return kNext;
}

}  // namespace

void register_bit(HandlerTable& t) {
  using I = InsnId;
  set(t, I::BT_EvGv, &bit_test<Bt::kTest>);
  set(t, I::BTS_EvGv, &bit_test<Bt::kSet>);
  set(t, I::BTR_EvGv, &bit_test<Bt::kReset>);
  set(t, I::BTC_EvGv, &bit_test<Bt::kComplement>);
  set(t, I::BT_EvIb, &bit_test<Bt::kTest>);
  set(t, I::BTS_EvIb, &bit_test<Bt::kSet>);
  set(t, I::BTR_EvIb, &bit_test<Bt::kReset>);
  set(t, I::BTC_EvIb, &bit_test<Bt::kComplement>);
  set(t, I::BSF_GvEv, &scan<Scan::kBsf>);
  set(t, I::BSR_GvEv, &scan<Scan::kBsr>);
  set(t, I::TZCNT_GvEv, &scan<Scan::kTzcnt>);
  set(t, I::LZCNT_GvEv, &scan<Scan::kLzcnt>);
  set(t, I::POPCNT_GvEv, &scan<Scan::kPopcnt>);
  set(t, I::BSWAP_Zv, &bswap);
}

}  // namespace snpemu::cpu
