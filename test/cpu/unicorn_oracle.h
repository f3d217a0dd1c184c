// test/cpu/unicorn_oracle.h: a small wrapper around Unicorn 2 (QEMU TCG) in x86-64 mode, used as
// the semantic oracle of the differential tests. One engine is reused across sequences.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct uc_struct;

namespace snpemu::cpu::testing {

class UnicornX86 {
 public:
  struct Regs {
    std::array<uint64_t, 16> gpr{};
    uint64_t rip = 0;
    uint64_t rflags = 0;
  };
  struct Run {
    int error = 0;     // uc_err of uc_emu_start (0 = UC_ERR_OK)
    int interrupt = -1;  // exception vector that stopped the run, or -1
  };

  /// Opens an engine with the EPYC CPU model (so POPCNT/LZCNT/MOVBE... exist).
  UnicornX86();
  ~UnicornX86();
  UnicornX86(const UnicornX86&) = delete;
  UnicornX86& operator=(const UnicornX86&) = delete;

  bool ok() const { return uc_ != nullptr; }
  const std::string& error() const { return error_; }
  bool map(uint64_t address, uint64_t size);
  bool write(uint64_t address, std::span<const uint8_t> bytes);
  bool read(uint64_t address, std::span<uint8_t> out);
  void set_regs(const Regs& r);
  Regs regs();
  /// Drops translated code in [begin, end) (call after rewriting code).
  void forget_code(uint64_t begin, uint64_t end);
  /// Runs from `begin` until RIP == `until`, an exception, or `max_insns` instructions.
  Run run(uint64_t begin, uint64_t until, uint64_t max_insns);

 private:
  uc_struct* uc_ = nullptr;
  std::string error_;
  int interrupt_ = -1;
};

}  // namespace snpemu::cpu::testing
