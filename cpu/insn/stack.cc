// cpu/insn/stack.cc: PUSH POP PUSHF POPF ENTER LEAVE (64-bit mode: operand size 64, or 16 with
// an operand-size prefix). APM vol 3, chapter 3.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

// PUSH Zv | Ev | Iz | Ibs: the operand is read at its own size and pushed at the stack size.
Outcome PUSH(Exec& x) {
  auto v = x.read(0);
  if (!v) return v.error();
  return x.push(*v & size_mask(x.d.opsize), x.d.opsize);
}

Outcome POP_Zv(Exec& x) {
  auto v = x.pop(x.d.opsize);
  if (!v) return v.error();
  x.set_gpr(x.d.rm, x.d.opsize, *v);
  return kNext;
}

// POP Ev: a memory destination addressed through rSP uses the incremented rSP. APM vol 3, POP.
Outcome POP_Ev(Exec& x) {
  const uint64_t old_rsp = x.s.gpr[kRsp];
  auto v = x.pop(x.d.opsize);
  if (!v) return v.error();
  if (!x.d.mem) {
    x.set_gpr(x.d.rm, x.d.opsize, *v);
    return kNext;
  }
  x.compute_ea();
  Outcome o = x.store(x.ea, x.d.opsize, *v);
  if (o.kind != Outcome::Kind::kNext) x.s.gpr[kRsp] = old_rsp;
  return o;
}

template <unsigned kSeg>
Outcome PUSH_seg(Exec& x) {
  return x.push(x.s.seg[kSeg].selector, x.d.opsize);
}

template <unsigned kSeg>
Outcome POP_seg(Exec& x) {
  const uint64_t old_rsp = x.s.gpr[kRsp];
  auto v = x.pop(x.d.opsize);
  if (!v) return v.error();
  Outcome o = load_data_segment(x, kSeg, static_cast<uint16_t>(*v));
  if (o.kind != Outcome::Kind::kNext) x.s.gpr[kRsp] = old_rsp;
  return o;
}

// PUSHF: RFLAGS with VM and RF cleared. APM vol 3, PUSHF.
Outcome PUSHF(Exec& x) {
  return x.push(x.s.rflags & ~(flag::kVm | flag::kRf) & size_mask(x.d.opsize), x.d.opsize);
}

// POPF: which bits change depends on CPL and IOPL. APM vol 3, POPF Table.
Outcome POPF(Exec& x) {
  auto v = x.pop(x.d.opsize);
  if (!v) return v.error();
  uint64_t mask = flag::kStatus | flag::kTf | flag::kDf | flag::kNt | flag::kAc | flag::kId;
  const unsigned iopl = (x.s.rflags >> 12) & 3;
  if (x.s.cpl == 0) mask |= flag::kIopl;
  if (x.s.cpl <= iopl) mask |= flag::kIf;
  mask &= size_mask(x.d.opsize);
  x.s.rflags = ((x.s.rflags & ~mask) | (*v & mask) | flag::kFixed1) & ~flag::kRf;
  return kNext;
}

// ENTER Iw, Ib. APM vol 3, ENTER.
Outcome ENTER_IwIb(Exec& x) {
  const unsigned n = x.d.opsize;
  const uint64_t alloc = x.d.imm & 0xFFFF;
  const unsigned level = x.d.imm2 & 31;
  const uint64_t saved_rsp = x.s.gpr[kRsp];
  const uint64_t saved_rbp = x.s.gpr[kRbp];
  auto fail = [&](Outcome o) {
    x.s.gpr[kRsp] = saved_rsp;
    x.s.gpr[kRbp] = saved_rbp;
    return o;
  };
  if (Outcome o = x.push(saved_rbp & size_mask(n), n); o.kind != Outcome::Kind::kNext) return fail(o);
  const uint64_t frame = x.s.gpr[kRsp];
  if (level > 0) {
    uint64_t rbp = saved_rbp;
    for (unsigned i = 1; i < level; ++i) {
      rbp -= n;
      auto v = x.load(rbp, n, true);
      if (!v) return fail(v.error());
      if (Outcome o = x.push(*v, n); o.kind != Outcome::Kind::kNext) return fail(o);
    }
    if (Outcome o = x.push(frame & size_mask(n), n); o.kind != Outcome::Kind::kNext) return fail(o);
  }
  x.set_gpr(kRbp, n, frame);
  x.s.gpr[kRsp] -= alloc;
  return kNext;
}

Outcome LEAVE(Exec& x) {
  const uint64_t saved_rsp = x.s.gpr[kRsp];
  x.s.gpr[kRsp] = x.s.gpr[kRbp];
  auto v = x.pop(x.d.opsize);
  if (!v) {
    x.s.gpr[kRsp] = saved_rsp;
    return v.error();
  }
  x.set_gpr(kRbp, x.d.opsize, *v);
  return kNext;
}

}  // namespace

void register_stack(HandlerTable& t) {
  using I = InsnId;
  set(t, I::PUSH_Zv, &PUSH);
  set(t, I::PUSH_Ev, &PUSH);
  set(t, I::PUSH_Iz, &PUSH);
  set(t, I::PUSH_Ibs, &PUSH);
  set(t, I::POP_Zv, &POP_Zv);
  set(t, I::POP_Ev, &POP_Ev);
  set(t, I::PUSH_FS, &PUSH_seg<kFs>);
  set(t, I::PUSH_GS, &PUSH_seg<kGs>);
  set(t, I::POP_FS, &POP_seg<kFs>);
  set(t, I::POP_GS, &POP_seg<kGs>);
  set(t, I::PUSHF, &PUSHF);
  set(t, I::POPF, &POPF);
  set(t, I::ENTER_IwIb, &ENTER_IwIb);
  set(t, I::LEAVE, &LEAVE);
}

}  // namespace snpemu::cpu
