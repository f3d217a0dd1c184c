// cpu/insn/alu.cc: ADD OR ADC SBB AND SUB XOR CMP TEST INC DEC NOT NEG. APM vol 3, chapter 3.
#include "cpu/insn/exec.h"

#include <initializer_list>

namespace snpemu::cpu {
namespace {

enum class Alu : uint8_t { kAdd, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp, kTest };

template <Alu K>
FlagOut compute(uint64_t a, uint64_t b, bool cf, unsigned n) {
  switch (K) {
    case Alu::kAdd: return add(a, b, 0, n);
    case Alu::kAdc: return add(a, b, cf ? 1 : 0, n);
    case Alu::kSub: case Alu::kCmp: return sub(a, b, 0, n);
    case Alu::kSbb: return sub(a, b, cf ? 1 : 0, n);
    case Alu::kOr: return logic(a | b, n);
    case Alu::kAnd: case Alu::kTest: return logic(a & b, n);
    case Alu::kXor: return logic(a ^ b, n);
  }
  return {};
}

// op0 <- op0 (K) op1, with flags; CMP and TEST write flags only.
template <Alu K>
Outcome binary(Exec& x) {
  const unsigned n = x.size(0);
  auto a = x.read(0);
  if (!a) return a.error();
  auto b = x.read(1);
  if (!b) return b.error();
  const FlagOut r = compute<K>(*a, *b, x.flag(flag::kCf), n);
  if constexpr (K != Alu::kCmp && K != Alu::kTest) {
    if (Outcome o = x.write(0, r.value); o.kind != Outcome::Kind::kNext) return o;
  }
  x.set_flags(r);
  return kNext;
}

enum class Unary : uint8_t { kInc, kDec, kNot, kNeg };

template <Unary K>
Outcome unary(Exec& x) {
  const unsigned n = x.size(0);
  auto a = x.read(0);
  if (!a) return a.error();
  FlagOut r;
  switch (K) {
    case Unary::kInc: r = inc(*a, n); break;
    case Unary::kDec: r = dec(*a, n); break;
    case Unary::kNeg: r = neg(*a, n); break;
    case Unary::kNot: r = {~*a & size_mask(n), 0, 0, 0}; break;  // NOT writes no flags
  }
  if (Outcome o = x.write(0, r.value); o.kind != Outcome::Kind::kNext) return o;
  x.set_flags(r);
  return kNext;
}

// Specialisations (see SpecialisedForms): register destination of N bytes, register or
// immediate source; the same computation as binary<K> / unary<K> for those operand forms.
template <Alu K, unsigned N, bool kImm>
Outcome binary_reg(Exec& x) {
  uint64_t& dst = x.s.gpr[x.d.op_reg[0]];
  const uint64_t b = kImm ? x.d.imm : x.s.gpr[x.d.op_reg[1]];
  const FlagOut r = compute<K>(dst & size_mask(N), b, x.flag(flag::kCf), N);
  if constexpr (K != Alu::kCmp && K != Alu::kTest) dst = r.value;  // N = 4 zero-extends
  x.set_flags(r);
  return kNext;
}

template <Unary K, unsigned N>
Outcome unary_reg(Exec& x) {
  uint64_t& dst = x.s.gpr[x.d.op_reg[0]];
  const uint64_t a = dst & size_mask(N);
  FlagOut r;
  switch (K) {
    case Unary::kInc: r = inc(a, N); break;
    case Unary::kDec: r = dec(a, N); break;
    case Unary::kNeg: r = neg(a, N); break;
    case Unary::kNot: r = {~a & size_mask(N), 0, 0, 0}; break;
  }
  dst = r.value;
  x.set_flags(r);
  return kNext;
}

template <Alu K>
SpecialisedForms binary_forms() {
  return {&binary_reg<K, 4, false>, &binary_reg<K, 4, true>, &binary_reg<K, 8, false>, &binary_reg<K, 8, true>};
}

template <Unary K>
SpecialisedForms unary_forms() {
  return {&unary_reg<K, 4>, nullptr, &unary_reg<K, 8>, nullptr};
}

template <Alu K>
void register_specialised(SpecialisedTable& t, std::initializer_list<InsnId> ids) {
  for (InsnId id : ids) t[static_cast<size_t>(id)] = binary_forms<K>();
}

template <Alu K>
void register_forms(HandlerTable& t, InsnId EbGb, InsnId EvGv, InsnId GbEb, InsnId GvEv,
                    InsnId ALIb, InsnId rAXIz, InsnId EbIb, InsnId EvIz, InsnId EvIbs) {
  for (InsnId id : {EbGb, EvGv, GbEb, GvEv, ALIb, rAXIz, EbIb, EvIz, EvIbs}) set(t, id, &binary<K>);
}

}  // namespace

void register_alu(HandlerTable& t) {
  using I = InsnId;
  register_forms<Alu::kAdd>(t, I::ADD_EbGb, I::ADD_EvGv, I::ADD_GbEb, I::ADD_GvEv, I::ADD_ALIb, I::ADD_rAXIz, I::ADD_EbIb, I::ADD_EvIz, I::ADD_EvIbs);
  register_forms<Alu::kOr>(t, I::OR_EbGb, I::OR_EvGv, I::OR_GbEb, I::OR_GvEv, I::OR_ALIb, I::OR_rAXIz, I::OR_EbIb, I::OR_EvIz, I::OR_EvIbs);
  register_forms<Alu::kAdc>(t, I::ADC_EbGb, I::ADC_EvGv, I::ADC_GbEb, I::ADC_GvEv, I::ADC_ALIb, I::ADC_rAXIz, I::ADC_EbIb, I::ADC_EvIz, I::ADC_EvIbs);
  register_forms<Alu::kSbb>(t, I::SBB_EbGb, I::SBB_EvGv, I::SBB_GbEb, I::SBB_GvEv, I::SBB_ALIb, I::SBB_rAXIz, I::SBB_EbIb, I::SBB_EvIz, I::SBB_EvIbs);
  register_forms<Alu::kAnd>(t, I::AND_EbGb, I::AND_EvGv, I::AND_GbEb, I::AND_GvEv, I::AND_ALIb, I::AND_rAXIz, I::AND_EbIb, I::AND_EvIz, I::AND_EvIbs);
  register_forms<Alu::kSub>(t, I::SUB_EbGb, I::SUB_EvGv, I::SUB_GbEb, I::SUB_GvEv, I::SUB_ALIb, I::SUB_rAXIz, I::SUB_EbIb, I::SUB_EvIz, I::SUB_EvIbs);
  register_forms<Alu::kXor>(t, I::XOR_EbGb, I::XOR_EvGv, I::XOR_GbEb, I::XOR_GvEv, I::XOR_ALIb, I::XOR_rAXIz, I::XOR_EbIb, I::XOR_EvIz, I::XOR_EvIbs);
  register_forms<Alu::kCmp>(t, I::CMP_EbGb, I::CMP_EvGv, I::CMP_GbEb, I::CMP_GvEv, I::CMP_ALIb, I::CMP_rAXIz, I::CMP_EbIb, I::CMP_EvIz, I::CMP_EvIbs);
  for (InsnId id : {I::TEST_EbGb, I::TEST_EvGv, I::TEST_ALIb, I::TEST_rAXIz, I::TEST_EbIb, I::TEST_EvIz}) {
    set(t, id, &binary<Alu::kTest>);
  }
  set(t, I::INC_Eb, &unary<Unary::kInc>);
  set(t, I::INC_Ev, &unary<Unary::kInc>);
  set(t, I::DEC_Eb, &unary<Unary::kDec>);
  set(t, I::DEC_Ev, &unary<Unary::kDec>);
  set(t, I::NOT_Eb, &unary<Unary::kNot>);
  set(t, I::NOT_Ev, &unary<Unary::kNot>);
  set(t, I::NEG_Eb, &unary<Unary::kNeg>);
  set(t, I::NEG_Ev, &unary<Unary::kNeg>);
}

void register_alu_specialised(SpecialisedTable& t) {
  using I = InsnId;
  // Forms with a v-sized register destination (E with mod = 3, G, rAX) and a v-sized register
  // or immediate source; byte forms stay generic.
  register_specialised<Alu::kAdd>(t, {I::ADD_EvGv, I::ADD_GvEv, I::ADD_rAXIz, I::ADD_EvIz, I::ADD_EvIbs});
  register_specialised<Alu::kOr>(t, {I::OR_EvGv, I::OR_GvEv, I::OR_rAXIz, I::OR_EvIz, I::OR_EvIbs});
  register_specialised<Alu::kAdc>(t, {I::ADC_EvGv, I::ADC_GvEv, I::ADC_rAXIz, I::ADC_EvIz, I::ADC_EvIbs});
  register_specialised<Alu::kSbb>(t, {I::SBB_EvGv, I::SBB_GvEv, I::SBB_rAXIz, I::SBB_EvIz, I::SBB_EvIbs});
  register_specialised<Alu::kAnd>(t, {I::AND_EvGv, I::AND_GvEv, I::AND_rAXIz, I::AND_EvIz, I::AND_EvIbs});
  register_specialised<Alu::kSub>(t, {I::SUB_EvGv, I::SUB_GvEv, I::SUB_rAXIz, I::SUB_EvIz, I::SUB_EvIbs});
  register_specialised<Alu::kXor>(t, {I::XOR_EvGv, I::XOR_GvEv, I::XOR_rAXIz, I::XOR_EvIz, I::XOR_EvIbs});
  register_specialised<Alu::kCmp>(t, {I::CMP_EvGv, I::CMP_GvEv, I::CMP_rAXIz, I::CMP_EvIz, I::CMP_EvIbs});
  register_specialised<Alu::kTest>(t, {I::TEST_EvGv, I::TEST_rAXIz, I::TEST_EvIz});
  t[static_cast<size_t>(I::INC_Ev)] = unary_forms<Unary::kInc>();
  t[static_cast<size_t>(I::DEC_Ev)] = unary_forms<Unary::kDec>();
  t[static_cast<size_t>(I::NOT_Ev)] = unary_forms<Unary::kNot>();
  t[static_cast<size_t>(I::NEG_Ev)] = unary_forms<Unary::kNeg>();
}

}  // namespace snpemu::cpu
