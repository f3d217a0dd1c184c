// emu/exec/bare_metal.cc: `snpemu exec`: one core, one ELF image, debug ports.
#include "emu/exec/bare_metal.h"

#include <cstdio>
#include <memory>

#include "base/hex.h"
#include "cpu/cpu.h"
#include "emu/elf/elf.h"
#include "emu/exec/boot_layout.h"
#include "emu/mem/memory.h"

namespace snpemu {
namespace {

// Low-memory layout of the loader (documented in bare_metal.h; shared with the VMM's launch plan
// through boot_layout.h).
using boot::kGdt;
using boot::kLoaderEnd;
using boot::kPml4;
using boot::kStackTop;
constexpr uint64_t kMinMemory = 2 << 20;

// Ports. isa-debug-exit and the debug console follow QEMU's devices; COM1 is the PC UART.
constexpr uint16_t kDebugConsolePort = 0xE9;
constexpr uint16_t kDebugExitPort = 0xF4;
constexpr uint16_t kCom1Base = 0x3F8;
constexpr uint16_t kCom1Lsr = kCom1Base + 5;
// 16550 LSR: bit 5 THRE (transmit holding register empty), bit 6 TEMT (transmitter empty).
constexpr uint32_t kLsrTransmitterIdle = 0x60;

// The machine of a bare-metal run: RAM and the three devices above.
class BareMetalBus final : public cpu::CpuBus {
 public:
  BareMetalBus(Memory& memory, std::ostream& console) : memory_(memory), console_(console) {}

  bool read(uint64_t pa, std::span<uint8_t> out) override {
    return memory_.read(Hpa{pa}, out).has_value();
  }
  bool write(uint64_t pa, std::span<const uint8_t> in) override {
    return memory_.write(Hpa{pa}, in).has_value();
  }
  // RAM pages that exist; untouched pages (and anything outside RAM) take the read() path.
  const uint8_t* readable_page(uint64_t pfn) override {
    return memory_.page_pointer_if_present(Pfn{pfn});
  }
  cpu::IoResult io_in(uint16_t port, uint8_t size, uint32_t& value) override {
    if (port == kCom1Lsr && size == 1) {
      value = kLsrTransmitterIdle;
    } else {
      // Nothing decodes the port: the bus floats high, as on a PC.
      value = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    }
    return cpu::IoResult::kDone;
  }
  cpu::IoResult io_out(uint16_t port, uint8_t size, uint32_t value) override {
    if (port == kDebugConsolePort || port == kCom1Base) {
      console_.put(static_cast<char>(value & 0xFF));
      console_.flush();  // unbuffered, in order with anything else the caller prints
      return cpu::IoResult::kDone;
    }
    if (port == kDebugExitPort) {
      exit_value_ = size == 4 ? value : value & ((1u << (8 * size)) - 1);
      exited_ = true;
      return cpu::IoResult::kExit;
    }
    return cpu::IoResult::kDone;
  }

  bool exited() const { return exited_; }
  uint32_t exit_value() const { return exit_value_; }

 private:
  Memory& memory_;
  std::ostream& console_;
  bool exited_ = false;
  uint32_t exit_value_ = 0;
};

// Identity-maps [0, 4 GiB) with 2 MiB pages and writes a flat 64-bit GDT (boot_layout.h).
void build_loader_structures(Memory& memory) {
  (void)memory.write(Hpa{kPml4}, boot::page_tables_image(/*entry_bits=*/0));
  (void)memory.write(Hpa{kGdt}, boot::gdt_page_image());
}

cpu::ArchState initial_state(uint64_t entry) {
  cpu::ArchState s = cpu::long_mode_state(entry, kStackTop);
  s.cr0 =
      cpu::ctl::kCr0Pe | cpu::ctl::kCr0Et | cpu::ctl::kCr0Ne | cpu::ctl::kCr0Wp | cpu::ctl::kCr0Pg;
  s.cr3 = kPml4;
  s.cr4 = cpu::ctl::kCr4Pae;
  s.efer = cpu::ctl::kEferLme | cpu::ctl::kEferLma | cpu::ctl::kEferNxe;
  s.gdtr = cpu::DescriptorTable{kGdt, boot::kGdtLimit};
  s.rflags = cpu::flag::kFixed1;  // interrupts disabled
  return s;
}

std::string describe_stop(const cpu::Core& core) {
  const cpu::StopInfo& info = core.stop_info();
  const std::string at = " at rip " + hex(core.state().rip);
  switch (info.reason) {
    case cpu::StopReason::kShutdown:
      return "triple fault (shutdown)" + at + ", last exception vector " +
             std::to_string(static_cast<int>(info.fault.vector));
    case cpu::StopReason::kBusError:
      return "access to physical address " + hex(info.address) + " outside memory" + at;
    case cpu::StopReason::kUnimplemented:
      return "instruction not modelled yet (id " + std::to_string(static_cast<int>(info.insn)) +
             ")" + at;
    case cpu::StopReason::kUnsupportedMode:
      return "the guest left 64-bit mode" + at + " (legacy modes are not modelled)";
    case cpu::StopReason::kFault:
      return "unhandled exception vector " + std::to_string(static_cast<int>(info.fault.vector)) +
             at;
    default:
      return "unexpected stop" + at;
  }
}

}  // namespace

std::expected<BareMetalResult, std::string> run_bare_metal(std::span<const uint8_t> elf,
                                                           const BareMetalOptions& options,
                                                           std::ostream& console) {
  if (options.mem_bytes < kMinMemory) {
    return std::unexpected("memory of " + std::to_string(options.mem_bytes) +
                           " bytes is below the 2 MiB a bare-metal run needs");
  }
  auto image = parse_elf64(elf);
  if (!image) return std::unexpected(image.error());
  for (const ElfSegment& s : image->segments) {
    if (s.paddr < kLoaderEnd) {
      return std::unexpected("ELF: segment at " + hex(s.paddr) +
                             " overlaps the loader's page tables, GDT and stack below " +
                             hex(kLoaderEnd) + " (link the image at 1 MiB or above)");
    }
  }
  auto memory = Memory::create(options.mem_bytes);
  if (!memory) return std::unexpected(memory.error());
  if (auto loaded = load_elf64(*image, elf, **memory); !loaded) {
    return std::unexpected(loaded.error());
  }
  build_loader_structures(**memory);

  BareMetalBus bus(**memory, console);
  cpu::Core core(bus, cpu::CoreConfig{});
  core.state() = initial_state(image->entry);

  // Run in slices of cycles; near an instruction limit, one instruction at a time.
  constexpr uint64_t kSliceCycles = 1 << 20;
  for (;;) {
    cpu::StopReason reason;
    if (options.max_insns != 0) {
      if (core.instructions() >= options.max_insns) {
        return BareMetalResult{BareMetalResult::End::kInsnLimit, 0, core.instructions(),
                               core.cycles()};
      }
      reason = core.step();
    } else {
      reason = core.run(kSliceCycles);
    }
    switch (reason) {
      case cpu::StopReason::kBudget:
        continue;
      case cpu::StopReason::kIoExit:
        if (bus.exited()) {
          return BareMetalResult{BareMetalResult::End::kExitPort,
                                 static_cast<int>(((bus.exit_value() << 1) | 1) & 0xFF),
                                 core.instructions(), core.cycles()};
        }
        continue;
      case cpu::StopReason::kHalt:
        if ((core.state().rflags & cpu::flag::kIf) == 0) {
          return BareMetalResult{BareMetalResult::End::kHalt, 0, core.instructions(),
                                 core.cycles()};
        }
        return std::unexpected("HLT with interrupts enabled at rip " + hex(core.state().rip) +
                               " and no interrupt source: the guest would sleep forever");
      default:
        return std::unexpected(describe_stop(core));
    }
  }
}

}  // namespace snpemu
