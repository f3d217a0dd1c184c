// cpu/insn/string.cc: MOVS CMPS STOS LODS SCAS with REP/REPE/REPNE and the direction flag.
// APM vol 3, 3.x and 1.2.6. A REP instruction runs at most kItersPerStep iterations per step and
// then re-executes (RIP unchanged), so budgets, interrupts and faults see a consistent rCX/rSI/rDI.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kItersPerStep = 1024;

enum class Str : uint8_t { kMovs, kCmps, kStos, kLods, kScas };

void advance(Exec& x, unsigned reg, unsigned n) {
  const uint64_t delta = x.flag(flag::kDf) ? uint64_t{0} - n : n;
  x.set_gpr(reg, x.d.addrsize == 4 ? 4 : 8, x.s.gpr[reg] + delta);
}

// One iteration. Returns kNext on success.
template <Str K>
Outcome once(Exec& x, unsigned n) {
  switch (K) {
    case Str::kMovs: {
      auto v = x.load(x.string_si(), n);
      if (!v) return v.error();
      if (Outcome o = x.store(x.string_di(), n, *v); o.kind != Outcome::Kind::kNext) return o;
      advance(x, kRsi, n);
      advance(x, kRdi, n);
      return kNext;
    }
    case Str::kCmps: {
      auto a = x.load(x.string_si(), n);
      if (!a) return a.error();
      auto b = x.load(x.string_di(), n);
      if (!b) return b.error();
      x.set_flags(sub(*a, *b, 0, n));
      advance(x, kRsi, n);
      advance(x, kRdi, n);
      return kNext;
    }
    case Str::kStos: {
      if (Outcome o = x.store(x.string_di(), n, x.gpr(kRax, n)); o.kind != Outcome::Kind::kNext) return o;
      advance(x, kRdi, n);
      return kNext;
    }
    case Str::kLods: {
      auto v = x.load(x.string_si(), n);
      if (!v) return v.error();
      x.set_gpr(kRax, n, *v);
      advance(x, kRsi, n);
      return kNext;
    }
    case Str::kScas: {
      auto b = x.load(x.string_di(), n);
      if (!b) return b.error();
      x.set_flags(sub(x.gpr(kRax, n), *b, 0, n));
      advance(x, kRdi, n);
      return kNext;
    }
  }
  return kNext;
}

template <Str K>
Outcome string_op(Exec& x) {
  const unsigned n = K == Str::kLods || K == Str::kStos ? x.size(K == Str::kLods ? 0 : 1) : x.size(0);
  if (x.d.rep == 0) return once<K>(x, n);
  const unsigned a = x.d.addrsize;
  constexpr bool kCompares = K == Str::kCmps || K == Str::kScas;
  for (uint64_t i = 0; i < kItersPerStep; ++i) {
    if (x.gpr(kRcx, a) == 0) return kNext;
    if (i > 0) x.core.charge(Cost::kStringIter);
    if (Outcome o = once<K>(x, n); o.kind != Outcome::Kind::kNext) return o;
    x.set_gpr(kRcx, a == 4 ? 4 : 8, x.gpr(kRcx, a) - 1);
    if (kCompares) {
      // REPE (F3) stops when ZF = 0; REPNE (F2) stops when ZF = 1.
      const bool zf = x.flag(flag::kZf);
      if ((x.d.rep == 0xF3 && !zf) || (x.d.rep == 0xF2 && zf)) return kNext;
    }
  }
  if (x.gpr(kRcx, a) != 0) x.next_rip -= x.d.length;  // more to do: execute again
  return kNext;
}

}  // namespace

void register_string(HandlerTable& t) {
  using I = InsnId;
  set(t, I::MOVS_YbXb, &string_op<Str::kMovs>);
  set(t, I::MOVS_YvXv, &string_op<Str::kMovs>);
  set(t, I::CMPS_XbYb, &string_op<Str::kCmps>);
  set(t, I::CMPS_XvYv, &string_op<Str::kCmps>);
  set(t, I::STOS_YbAL, &string_op<Str::kStos>);
  set(t, I::STOS_YvrAX, &string_op<Str::kStos>);
  set(t, I::LODS_ALXb, &string_op<Str::kLods>);
  set(t, I::LODS_rAXXv, &string_op<Str::kLods>);
  set(t, I::SCAS_ALYb, &string_op<Str::kScas>);
  set(t, I::SCAS_rAXYv, &string_op<Str::kScas>);
}

}  // namespace snpemu::cpu
