// cpu/insn/shift.cc: ROL ROR RCL RCR SHL SHR SAR SHLD SHRD. APM vol 3, chapter 3.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

enum class Sh : uint8_t { kRol, kRor, kRcl, kRcr, kShl, kShr, kSar };

// op0 <- op0 shifted by op1 (Ib, 1 or CL). A masked count of 0 changes nothing.
template <Sh K>
Outcome shift(Exec& x) {
  const unsigned n = x.size(0);
  auto a = x.read(0);
  if (!a) return a.error();
  auto c = x.read(1);
  if (!c) return c.error();
  const bool cf = x.flag(flag::kCf);
  FlagOut r;
  switch (K) {
    case Sh::kRol: r = rol(*a, *c, n); break;
    case Sh::kRor: r = ror(*a, *c, n); break;
    case Sh::kRcl: r = rcl(*a, *c, cf, n); break;
    case Sh::kRcr: r = rcr(*a, *c, cf, n); break;
    case Sh::kShl: r = shl(*a, *c, n); break;
    case Sh::kShr: r = shr(*a, *c, n); break;
    case Sh::kSar: r = sar(*a, *c, n); break;
  }
  // Count 0 still writes the destination, so a 32-bit register is zero-extended.
  // UNCONFIRMED on AMD hardware for count 0 (Intel SDM and QEMU zero-extend).
  if (Outcome o = x.write(0, r.value); o.kind != Outcome::Kind::kNext) return o;
  x.set_flags(r);
  return kNext;
}

// SHLD/SHRD Ev, Gv, Ib|CL.
template <bool kLeft>
Outcome double_shift(Exec& x) {
  const unsigned n = x.size(0);
  auto a = x.read(0);
  if (!a) return a.error();
  auto b = x.read(1);
  if (!b) return b.error();
  auto c = x.read(2);
  if (!c) return c.error();
  const FlagOut r = kLeft ? shld(*a, *b, *c, n) : shrd(*a, *b, *c, n);
  if (Outcome o = x.write(0, r.value); o.kind != Outcome::Kind::kNext) return o;
  x.set_flags(r);
  return kNext;
}

}  // namespace

void register_shift(HandlerTable& t) {
  using I = InsnId;
  set(t, I::ROL_Eb, &shift<Sh::kRol>);
  set(t, I::ROL_Ev, &shift<Sh::kRol>);
  set(t, I::ROR_Eb, &shift<Sh::kRor>);
  set(t, I::ROR_Ev, &shift<Sh::kRor>);
  set(t, I::RCL_Eb, &shift<Sh::kRcl>);
  set(t, I::RCL_Ev, &shift<Sh::kRcl>);
  set(t, I::RCR_Eb, &shift<Sh::kRcr>);
  set(t, I::RCR_Ev, &shift<Sh::kRcr>);
  set(t, I::SHL_Eb, &shift<Sh::kShl>);
  set(t, I::SHL_Ev, &shift<Sh::kShl>);
  set(t, I::SHR_Eb, &shift<Sh::kShr>);
  set(t, I::SHR_Ev, &shift<Sh::kShr>);
  set(t, I::SAR_Eb, &shift<Sh::kSar>);
  set(t, I::SAR_Ev, &shift<Sh::kSar>);
  set(t, I::SHLD_EvGvIb, &double_shift<true>);
  set(t, I::SHLD_EvGvCL, &double_shift<true>);
  set(t, I::SHRD_EvGvIb, &double_shift<false>);
  set(t, I::SHRD_EvGvCL, &double_shift<false>);
}

}  // namespace snpemu::cpu
