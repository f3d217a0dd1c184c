// emu/machine/machine.cc: building the host (see machine.h).
#include "emu/machine/machine.h"

#include "base/hex.h"

namespace snpemu {

cpu::IoResult MachineBus::io_in(uint16_t, uint8_t size, uint32_t& value) {
  value = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  return cpu::IoResult::kDone;
}

cpu::IoResult MachineBus::io_out(uint16_t, uint8_t, uint32_t) { return cpu::IoResult::kDone; }

std::expected<std::unique_ptr<Machine>, std::string> Machine::create(const MachineConfig& config) {
  if (auto v = validate(config); !v) return std::unexpected(v.error());
  std::unique_ptr<Machine> m(new Machine(config));
  auto mem = Memory::create(config.mem_bytes);
  if (!mem) return std::unexpected("memory: " + mem.error());
  m->memory_ = std::move(*mem);
  m->rmp_base_ = config.mem_bytes;
  if (config.snp) {
    // Bookkeeping (PLATFORM-FACTS 4.1 [L]: 16 KiB) + one entry per 4 KiB page of RAM, rounded up
    // to 1 MiB and placed at the top of RAM.
    const uint64_t pages = config.mem_bytes >> 12;
    const uint64_t bytes = rmp::kRmpBookkeepingSize + pages * rmp::kRmpEntrySize;
    const uint64_t size = (bytes + 0xFFFFF) & ~uint64_t{0xFFFFF};
    if (size >= config.mem_bytes) {
      return std::unexpected("snp: " + std::to_string(config.mem_bytes) +
                             " bytes of memory leave no room for the RMP");
    }
    const uint64_t base = config.mem_bytes - size;
    auto r = rmp::Rmp::create(*m->memory_, rmp::RmpMsrs{rmp::kSyscfgSnpEn, base, config.mem_bytes - 1, 0});
    if (!r) return std::unexpected("snp: the RMP at " + hex(base) + " is refused: " + r.error().message());
    m->rmp_.emplace(std::move(*r));
    m->rmp_base_ = base;
    // The AMD-SP of an SNP machine. Platform facts the firmware reports come from the CPU
    // model: FMS = CPUID Fn0000_0001_EAX (secrets page), ASIDs = CPUID Fn8000_001F_ECX (the
    // highest encrypted-guest ASID, APM vol 3 E.4.17).
    fw::FirmwareConfig fc;
    fc.platform_seed = fw::platform_seed_from_machine_seed(config.seed);
    if (auto l1 = cpu::find_cpuid(cpu::zen4_cpuid(), 1, 0)) fc.fms = l1->eax;
    if (auto sev = cpu::find_cpuid(cpu::zen4_cpuid(), 0x8000001F, 0)) fc.max_asid = sev->ecx;
    auto f = fw::Firmware::create(*m->memory_, *m->rmp_, std::move(fc),
                                  config.memory_encryption ? &m->keys_ : nullptr);
    if (!f) return std::unexpected("snp: the AMD-SP model refused its configuration: " + f.error().message);
    m->firmware_.emplace(std::move(*f));
  }
  const uint8_t c_bit = mmu::PagingConfig::c_bit_from_cpuid(
      cpu::find_cpuid(cpu::zen4_cpuid(), 0x8000001F, 0).value_or(cpu::CpuidLeaf{}).ebx);
  for (uint32_t i = 0; i < config.cores; ++i) {
    CoreSlot slot;
    slot.bus = std::make_unique<MachineBus>(*m->memory_);
    cpu::CoreConfig cc;
    cc.keys = config.memory_encryption ? &m->keys_ : nullptr;
    cc.rmp = m->rmp();
    cc.paging.c_bit = c_bit;
    slot.core = std::make_unique<cpu::Core>(*slot.bus, std::move(cc));
    m->cores_.push_back(std::move(slot));
  }
  return m;
}

}  // namespace snpemu
