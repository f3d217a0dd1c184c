// cpu/insn/io.cc: IN OUT INS OUTS through the bus's port callback. APM vol 3, IN/OUT.
// Privilege: CPL > IOPL raises #GP(0). UNCONFIRMED simplification: the TSS I/O permission
// bitmap is not consulted yet (APM vol 2, 12.2.4), so such accesses always fault.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

bool io_allowed(const Exec& x) { return x.s.cpl <= ((x.s.rflags >> 12) & 3); }

Outcome io_done(IoResult r) {
  return r == IoResult::kExit ? Outcome{Outcome::Kind::kIoExit, {}, 0} : kNext;
}

// IN AL|eAX, Ib|DX.
Outcome IN(Exec& x) {
  if (!io_allowed(x)) return raise(gp(0));
  const unsigned n = x.size(0);
  const uint16_t port = static_cast<uint16_t>(*x.read(1) & 0xFFFF);
  uint32_t v = 0;
  const IoResult r = x.core.bus().io_in(port, static_cast<uint8_t>(n), v);
  x.set_gpr(kRax, n, v);
  return io_done(r);
}

// OUT Ib|DX, AL|eAX.
Outcome OUT(Exec& x) {
  if (!io_allowed(x)) return raise(gp(0));
  const unsigned n = x.size(1);
  const uint16_t port = static_cast<uint16_t>(*x.read(0) & 0xFFFF);
  const IoResult r = x.core.bus().io_out(port, static_cast<uint8_t>(n), static_cast<uint32_t>(x.gpr(kRax, n)));
  return io_done(r);
}

// INS / OUTS, one element per step (REP re-executes until rCX is 0).
template <bool kIn>
Outcome string_io(Exec& x) {
  if (!io_allowed(x)) return raise(gp(0));
  const unsigned n = kIn ? x.size(0) : x.size(1);
  const unsigned a = x.d.addrsize;
  if (x.d.rep && x.gpr(kRcx, a) == 0) return kNext;
  const uint16_t port = static_cast<uint16_t>(x.s.gpr[kRdx]);
  const uint64_t delta = x.flag(flag::kDf) ? uint64_t{0} - n : n;
  IoResult r;
  if (kIn) {
    uint32_t v = 0;
    r = x.core.bus().io_in(port, static_cast<uint8_t>(n), v);
    if (Outcome o = x.store(x.string_di(), n, v); o.kind != Outcome::Kind::kNext) return o;
    x.set_gpr(kRdi, a == 4 ? 4 : 8, x.s.gpr[kRdi] + delta);
  } else {
    auto v = x.load(x.string_si(), n);
    if (!v) return v.error();
    r = x.core.bus().io_out(port, static_cast<uint8_t>(n), static_cast<uint32_t>(*v));
    x.set_gpr(kRsi, a == 4 ? 4 : 8, x.s.gpr[kRsi] + delta);
  }
  if (x.d.rep) {
    x.set_gpr(kRcx, a == 4 ? 4 : 8, x.gpr(kRcx, a) - 1);
    if (x.gpr(kRcx, a) != 0) x.next_rip -= x.d.length;
  }
  return io_done(r);
}

}  // namespace

void register_io(HandlerTable& t) {
  using I = InsnId;
  for (InsnId id : {I::IN_ALIb, I::IN_eAXIb, I::IN_ALDX, I::IN_eAXDX}) set(t, id, &IN);
  for (InsnId id : {I::OUT_IbAL, I::OUT_IbeAX, I::OUT_DXAL, I::OUT_DXeAX}) set(t, id, &OUT);
  set(t, I::INS_YbDX, &string_io<true>);
  set(t, I::INS_YzDX, &string_io<true>);
  set(t, I::OUTS_DXXb, &string_io<false>);
  set(t, I::OUTS_DXXz, &string_io<false>);
}

}  // namespace snpemu::cpu
