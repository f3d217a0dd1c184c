// cpu/insn/dispatch.cc: the handler table, filled by each family's registration function.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

HandlerTable build() {
  HandlerTable t{};
  register_alu(t);
  register_shift(t);
  register_muldiv(t);
  register_bit(t);
  register_mov(t);
  register_stack(t);
  register_control(t);
  register_string(t);
  register_io(t);
  register_system(t);
  register_interrupt(t);
  register_svm(t);
  register_snp(t);
  return t;
}

SpecialisedTable build_specialised() {
  SpecialisedTable t{};
  register_alu_specialised(t);
  register_muldiv_specialised(t);
  return t;
}

}  // namespace

const HandlerTable& handlers() {
  static const HandlerTable kTable = build();
  return kTable;
}

Handler specialised_handler(const DecodedInsn& d) {
  static const SpecialisedTable kSpecialised = build_specialised();
  const Handler generic = handlers()[static_cast<size_t>(d.row->id)];
  if (d.row->id == InsnId::JCC_Jb || d.row->id == InsnId::JCC_Jz) return jcc_specialised(d.cc());
  const SpecialisedForms& f = kSpecialised[static_cast<size_t>(d.row->id)];
  const unsigned n = d.op_size[0];
  if (d.op_kind[0] != OpKind::kGpr || (n != 4 && n != 8)) return generic;
  Handler h = nullptr;
  if (d.op_kind[1] == OpKind::kGpr && d.op_size[1] == n) {
    h = n == 4 ? f.reg32 : f.reg64;
  } else if (d.op_kind[1] == OpKind::kImm && d.op_reg[1] == 0) {
    h = n == 4 ? f.imm32 : f.imm64;
  } else if (d.row->ops[1] == Op::None) {
    h = n == 4 ? f.reg32 : f.reg64;
  }
  return h != nullptr ? h : generic;
}

}  // namespace snpemu::cpu
