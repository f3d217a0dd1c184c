// test/cpu/unicorn_oracle.cc
#include "test/cpu/unicorn_oracle.h"

#include <unicorn/unicorn.h>

namespace snpemu::cpu::testing {
namespace {

constexpr int kGprIds[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
};

void on_interrupt(uc_engine* uc, uint32_t intno, void* user) {
  *static_cast<int*>(user) = static_cast<int>(intno);
  uc_emu_stop(uc);
}

}  // namespace

UnicornX86::UnicornX86() {
  uc_engine* uc = nullptr;
  uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  if (e != UC_ERR_OK) {
    error_ = std::string("uc_open: ") + uc_strerror(e);
    return;
  }
  e = uc_ctl_set_cpu_model(uc, UC_CPU_X86_EPYC);
  if (e != UC_ERR_OK) {
    error_ = std::string("uc_ctl_set_cpu_model: ") + uc_strerror(e);
    uc_close(uc);
    return;
  }
  uc_hook hook;
  e = uc_hook_add(uc, &hook, UC_HOOK_INTR, reinterpret_cast<void*>(&on_interrupt), &interrupt_, 1, 0);
  if (e != UC_ERR_OK) {
    error_ = std::string("uc_hook_add: ") + uc_strerror(e);
    uc_close(uc);
    return;
  }
  uc_ = uc;
}

UnicornX86::~UnicornX86() {
  if (uc_ != nullptr) uc_close(uc_);
}

bool UnicornX86::map(uint64_t address, uint64_t size) {
  return uc_mem_map(uc_, address, size, UC_PROT_ALL) == UC_ERR_OK;
}

bool UnicornX86::write(uint64_t address, std::span<const uint8_t> bytes) {
  return uc_mem_write(uc_, address, bytes.data(), bytes.size()) == UC_ERR_OK;
}

bool UnicornX86::read(uint64_t address, std::span<uint8_t> out) {
  return uc_mem_read(uc_, address, out.data(), out.size()) == UC_ERR_OK;
}

void UnicornX86::set_regs(const Regs& r) {
  for (int i = 0; i < 16; ++i) uc_reg_write(uc_, kGprIds[i], &r.gpr[i]);
  uc_reg_write(uc_, UC_X86_REG_RIP, &r.rip);
  uc_reg_write(uc_, UC_X86_REG_RFLAGS, &r.rflags);
}

UnicornX86::Regs UnicornX86::regs() {
  Regs r;
  for (int i = 0; i < 16; ++i) uc_reg_read(uc_, kGprIds[i], &r.gpr[i]);
  uc_reg_read(uc_, UC_X86_REG_RIP, &r.rip);
  uc_reg_read(uc_, UC_X86_REG_RFLAGS, &r.rflags);
  return r;
}

void UnicornX86::forget_code(uint64_t begin, uint64_t end) { uc_ctl_remove_cache(uc_, begin, end); }

UnicornX86::Run UnicornX86::run(uint64_t begin, uint64_t until, uint64_t max_insns) {
  interrupt_ = -1;
  const uc_err e = uc_emu_start(uc_, begin, until, 0, max_insns);
  return Run{static_cast<int>(e), interrupt_};
}

}  // namespace snpemu::cpu::testing
