// emu/machine/machine.h: the physical host -- RAM, the memory controller's encryption key slots,
// the RMP (when SEV-SNP is enabled) and the cores, each on a bus over RAM. Public header of
// //emu/machine. The hypervisor model runs "on" these cores through their host-instruction
// path (cpu/cpu.h); the AMD-SP (firmware/, present when SNP is on) shares the RAM, the RMP and
// the key slots, as on hardware.
//
//   machine.cc   Machine::create (RMP placement, core wiring), MachineBus
//
// RMP placement (a choice of this model, like a BIOS's): the RMP covers all RAM and sits at the
// top of it, 1 MiB aligned: 16 KiB of bookkeeping, then one 16-byte entry per 4 KiB page
// (PLATFORM-FACTS 4.1). RAM below rmp_base() is the hypervisor's to allocate.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpu/cpu.h"
#include "emu/machine_config.h"
#include "emu/mem/memory.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "rmp/rmp.h"

namespace snpemu {

/// A core's view of the machine: RAM, nothing on the I/O ports (an undecoded port reads all
/// ones, as on a PC: every guest port access is intercepted by the hypervisor anyway).
class MachineBus final : public cpu::CpuBus {
 public:
  explicit MachineBus(Memory& memory) : memory_(memory) {}
  bool read(uint64_t pa, std::span<uint8_t> out) override { return memory_.read(Hpa{pa}, out).has_value(); }
  bool write(uint64_t pa, std::span<const uint8_t> in) override {
    return memory_.write(Hpa{pa}, in).has_value();
  }
  const uint8_t* readable_page(uint64_t pfn) override { return memory_.page_pointer_if_present(Pfn{pfn}); }
  cpu::IoResult io_in(uint16_t port, uint8_t size, uint32_t& value) override;
  cpu::IoResult io_out(uint16_t port, uint8_t size, uint32_t value) override;

 private:
  Memory& memory_;
};

class Machine {
 public:
  /// Builds the machine `config` describes (validate() first); one precise line on failure.
  static std::expected<std::unique_ptr<Machine>, std::string> create(const MachineConfig& config);
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const MachineConfig& config() const { return config_; }
  Memory& memory() { return *memory_; }
  memcrypt::KeyTable& keys() { return keys_; }
  /// The RMP, or nullptr when SNP is off.
  rmp::Rmp* rmp() { return rmp_ ? &*rmp_ : nullptr; }
  uint32_t core_count() const { return static_cast<uint32_t>(cores_.size()); }
  cpu::Core& core(uint32_t index) { return *cores_.at(index).core; }
  /// The AMD Secure Processor (SNP firmware), or nullptr when SNP is off. Its platform seed comes
  /// from MachineConfig::seed (fw::platform_seed_from_machine_seed, what `snpemu vcek` uses);
  /// its CPUID-derived facts (FMS, the highest encrypted-guest ASID) from core 0's CPUID. It is
  /// left UNINIT: the hypervisor issues SNP_INIT, as KVM does.
  fw::Firmware* firmware() { return firmware_ ? &*firmware_ : nullptr; }
  /// First byte of the RMP (RAM end when SNP is off): RAM below it is free for the hypervisor.
  uint64_t rmp_base() const { return rmp_base_; }

 private:
  explicit Machine(const MachineConfig& config) : config_(config) {}
  struct CoreSlot {
    std::unique_ptr<MachineBus> bus;
    std::unique_ptr<cpu::Core> core;
  };
  MachineConfig config_;
  std::unique_ptr<Memory> memory_;
  memcrypt::KeyTable keys_;
  std::optional<rmp::Rmp> rmp_;
  std::optional<fw::Firmware> firmware_;  // after rmp_, keys_ and memory_: it points at them
  uint64_t rmp_base_ = 0;
  std::vector<CoreSlot> cores_;
};

}  // namespace snpemu
