// cpu/insn/control.cc: Jcc JMP CALL RET LOOPcc JrCXZ (near). A non-canonical target raises
// #GP(0) at the branch (APM vol 2, 5.3.1). With a 66 prefix AMD processors use a 16-bit
// operand size for near branches and truncate RIP to 16 bits (APM vol 3, 1.x "near branches").
#include "cpu/insn/exec.h"

#include <array>
#include <utility>

namespace snpemu::cpu {
namespace {

uint64_t branch_target(const Exec& x, uint64_t target) {
  return x.d.opsize == 2 ? target & 0xFFFF : target;
}

Outcome jump_to(Exec& x, uint64_t target) {
  target = branch_target(x, target);
  if (!is_canonical(target)) return raise(gp(0));
  x.next_rip = target;
  return kNext;
}

Outcome JCC(Exec& x) {
  if (!x.cond(x.d.cc())) return kNext;
  return jump_to(x, x.next_rip + x.d.imm);
}

template <unsigned kCc>
Outcome jcc(Exec& x) {
  if (!x.cond(kCc)) return kNext;
  return jump_to(x, x.next_rip + x.d.imm);
}

template <unsigned... kCc>
constexpr std::array<Handler, 16> jcc_table(std::integer_sequence<unsigned, kCc...>) {
  return {&jcc<kCc>...};
}

Outcome JMP_rel(Exec& x) { return jump_to(x, x.next_rip + x.d.imm); }

Outcome JMP_Ev(Exec& x) {
  auto t = x.read(0);
  if (!t) return t.error();
  return jump_to(x, *t);
}

Outcome call_to(Exec& x, uint64_t target) {
  target = branch_target(x, target);
  if (!is_canonical(target)) return raise(gp(0));
  if (Outcome o = x.push(x.next_rip & size_mask(x.d.opsize), x.d.opsize);
      o.kind != Outcome::Kind::kNext) {
    return o;
  }
  x.next_rip = target;
  return kNext;
}

Outcome CALL_Jz(Exec& x) { return call_to(x, x.next_rip + x.d.imm); }

Outcome CALL_Ev(Exec& x) {
  auto t = x.read(0);
  if (!t) return t.error();
  return call_to(x, *t);
}

Outcome RET(Exec& x) {
  const uint64_t saved_rsp = x.s.gpr[kRsp];
  auto t = x.pop(x.d.opsize);
  if (!t) return t.error();
  if (!is_canonical(*t)) {
    x.s.gpr[kRsp] = saved_rsp;
    return raise(gp(0));
  }
  x.next_rip = *t;
  if (x.d.row->ops[0] == Op::Iw) x.s.gpr[kRsp] += x.d.imm & 0xFFFF;
  return kNext;
}

// LOOP / LOOPE / LOOPNE / JrCXZ: the count register has the address size. APM vol 3, LOOP.
template <int kKind>  // 0 LOOP, 1 LOOPE, 2 LOOPNE, 3 JrCXZ
Outcome loop(Exec& x) {
  const unsigned a = x.d.addrsize;
  bool take;
  if (kKind == 3) {
    take = x.gpr(kRcx, a) == 0;
  } else {
    const uint64_t c = (x.gpr(kRcx, a) - 1) & size_mask(a);
    take = c != 0;
    if (kKind == 1) take = take && x.flag(flag::kZf);
    if (kKind == 2) take = take && !x.flag(flag::kZf);
    if (take) {
      const uint64_t t = branch_target(x, x.next_rip + x.d.imm);
      if (!is_canonical(t)) return raise(gp(0));
    }
    x.set_gpr(kRcx, a, c);
  }
  if (!take) return kNext;
  return jump_to(x, x.next_rip + x.d.imm);
}

Outcome far_transfer(Exec&) {
  return Outcome{Outcome::Kind::kUnimplemented, {}, 0};  // far CALL/JMP/RET: later session
}

}  // namespace

void register_control(HandlerTable& t) {
  using I = InsnId;
  set(t, I::JCC_Jb, &JCC);
  set(t, I::JCC_Jz, &JCC);
  set(t, I::JMP_Jb, &JMP_rel);
  set(t, I::JMP_Jz, &JMP_rel);
  set(t, I::JMP_Ev, &JMP_Ev);
  set(t, I::CALL_Jz, &CALL_Jz);
  set(t, I::CALL_Ev, &CALL_Ev);
  set(t, I::RET, &RET);
  set(t, I::RET_Iw, &RET);
  set(t, I::LOOP_Jb, &loop<0>);
  set(t, I::LOOPE_Jb, &loop<1>);
  set(t, I::LOOPNE_Jb, &loop<2>);
  set(t, I::JRCXZ_Jb, &loop<3>);
  set(t, I::JMPF_M, &far_transfer);
  set(t, I::CALLF_M, &far_transfer);
  set(t, I::RETF, &far_transfer);
  set(t, I::RETF_Iw, &far_transfer);
}

Handler jcc_specialised(unsigned cc) {
  static constexpr std::array<Handler, 16> kTable = jcc_table(std::make_integer_sequence<unsigned, 16>{});
  return kTable[cc & 0xF];
}

}  // namespace snpemu::cpu
