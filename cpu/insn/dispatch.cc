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
  return t;
}

}  // namespace

const HandlerTable& handlers() {
  static const HandlerTable kTable = build();
  return kTable;
}

}  // namespace snpemu::cpu
