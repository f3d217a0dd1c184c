// cpu/insn/muldiv.cc: MUL IMUL DIV IDIV. APM vol 3, chapter 3. #DE on divide error.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

using u128 = unsigned __int128;
using i128 = __int128;

// rDX:rAX of the operand size (AH:AL for bytes), as one value.
u128 wide_acc(Exec& x, unsigned n) {
  if (n == 1) return x.gpr(kRax, 2);
  return (u128{x.gpr(kRdx, n)} << (8 * n)) | x.gpr(kRax, n);
}

void set_wide_acc(Exec& x, unsigned n, u128 v) {
  if (n == 1) {
    x.set_gpr(kRax, 2, static_cast<uint64_t>(v) & 0xFFFF);
    return;
  }
  x.set_gpr(kRax, n, static_cast<uint64_t>(v) & size_mask(n));
  x.set_gpr(kRdx, n, static_cast<uint64_t>(v >> (8 * n)) & size_mask(n));
}

// MUL / IMUL r/m: rDX:rAX <- rAX * r/m.
template <bool kSigned>
Outcome mul_one(Exec& x) {
  const unsigned n = x.size(0);
  auto b = x.read(0);
  if (!b) return b.error();
  const uint64_t a = x.gpr(kRax, n);
  u128 product;
  bool overflow;
  if (kSigned) {
    const i128 p = i128{to_signed(a, n)} * i128{to_signed(*b, n)};
    product = static_cast<u128>(p);
    overflow = p != i128{to_signed(static_cast<uint64_t>(p), n)};
  } else {
    product = u128{a} * u128{*b & size_mask(n)};
    overflow = (product >> (8 * n)) != 0;
  }
  set_wide_acc(x, n, product);
  x.set_flags(mul_flags(overflow));
  return kNext;
}

// IMUL Gv, Ev (, imm): truncated signed product.
Outcome imul_two(Exec& x) {
  const unsigned n = x.size(0);
  const bool three = x.d.row->ops[2] != Op::None;
  auto a = x.read(1);
  if (!a) return a.error();
  auto b = three ? x.read(2) : x.read(0);
  if (!b) return b.error();
  const i128 p = i128{to_signed(*a & size_mask(n), n)} * i128{to_signed(*b & size_mask(n), n)};
  const uint64_t r = static_cast<uint64_t>(p) & size_mask(n);
  x.set_gpr(x.d.reg, n, r);
  x.set_flags(mul_flags(p != i128{to_signed(r, n)}));
  return kNext;
}

// Specialisation of imul_two for a register source of N bytes (SpecialisedForms): the
// two-operand form multiplies G by E, the three-operand forms E by the immediate.
template <unsigned N, bool kThree>
Outcome imul_reg(Exec& x) {
  const uint64_t a = x.s.gpr[x.d.op_reg[1]];
  const uint64_t b = kThree ? x.d.imm : x.s.gpr[x.d.op_reg[0]];
  const i128 p = i128{to_signed(a & size_mask(N), N)} * i128{to_signed(b & size_mask(N), N)};
  const uint64_t r = static_cast<uint64_t>(p) & size_mask(N);
  x.s.gpr[x.d.op_reg[0]] = r;  // N = 4 zero-extends
  x.set_flags(mul_flags(p != i128{to_signed(r, N)}));
  return kNext;
}

// DIV / IDIV r/m: quotient to rAX (AL), remainder to rDX (AH); flags undefined (unchanged here).
template <bool kSigned>
Outcome divide(Exec& x) {
  const unsigned n = x.size(0);
  auto b = x.read(0);
  if (!b) return b.error();
  const uint64_t divisor = *b & size_mask(n);
  if (divisor == 0) return raise(de());
  const u128 dividend = wide_acc(x, n);
  const unsigned bits = 8 * n;
  u128 q, r;
  if (kSigned) {
    // Sign-extend the 2n-byte dividend.
    const unsigned shift = 128 - 2 * bits;
    const i128 sd = static_cast<i128>(dividend << shift) >> shift;
    const i128 sv = to_signed(divisor, n);
    // The most negative 2n-byte dividend, built unsigned so that n = 8 (-2^127) is no overflow.
    const i128 min_dividend = static_cast<i128>(~u128{0} << (2 * bits - 1));
    if (sd == min_dividend && sv == -1) return raise(de());
    const i128 sq = sd / sv;
    const i128 sr = sd % sv;
    const i128 lim = i128{1} << (bits - 1);
    if (sq >= lim || sq < -lim) return raise(de());
    q = static_cast<u128>(sq);
    r = static_cast<u128>(sr);
  } else {
    q = dividend / divisor;
    r = dividend % divisor;
    if ((q >> bits) != 0) return raise(de());
  }
  const uint64_t mq = static_cast<uint64_t>(q) & size_mask(n);
  const uint64_t mr = static_cast<uint64_t>(r) & size_mask(n);
  if (n == 1) {
    x.set_gpr(kRax, 2, mq | (mr << 8));
  } else {
    x.set_gpr(kRax, n, mq);
    x.set_gpr(kRdx, n, mr);
  }
  return kNext;
}

}  // namespace

void register_muldiv(HandlerTable& t) {
  using I = InsnId;
  set(t, I::MUL_Eb, &mul_one<false>);
  set(t, I::MUL_Ev, &mul_one<false>);
  set(t, I::IMUL_Eb, &mul_one<true>);
  set(t, I::IMUL_Ev, &mul_one<true>);
  set(t, I::IMUL_GvEv, &imul_two);
  set(t, I::IMUL_GvEvIz, &imul_two);
  set(t, I::IMUL_GvEvIbs, &imul_two);
  set(t, I::DIV_Eb, &divide<false>);
  set(t, I::DIV_Ev, &divide<false>);
  set(t, I::IDIV_Eb, &divide<true>);
  set(t, I::IDIV_Ev, &divide<true>);
}

void register_muldiv_specialised(SpecialisedTable& t) {
  using I = InsnId;
  t[static_cast<size_t>(I::IMUL_GvEv)] = {&imul_reg<4, false>, nullptr, &imul_reg<8, false>, nullptr};
  for (InsnId id : {I::IMUL_GvEvIz, I::IMUL_GvEvIbs}) {
    t[static_cast<size_t>(id)] = {&imul_reg<4, true>, nullptr, &imul_reg<8, true>, nullptr};
  }
}

}  // namespace snpemu::cpu
