// cpu/state.h: architectural state of one x86-64 core as plain data.
//
// Register numbering follows the ModRM encoding (APM vol 3, 1.4.2 Table 1-10): 0 rAX, 1 rCX,
// 2 rDX, 3 rBX, 4 rSP, 5 rBP, 6 rSI, 7 rDI, 8..15 r8..r15. Segment numbering follows the Sreg
// field (APM vol 3, 1.4.2): 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS.
#pragma once

#include <array>
#include <cstdint>

namespace snpemu::cpu {

enum Gpr : uint8_t {
  kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
};

enum SegReg : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kSegCount };

/// RFLAGS bits. APM vol 2, 3.1.6 Figure 3-7.
namespace flag {
inline constexpr uint64_t kCf = 1u << 0;
inline constexpr uint64_t kFixed1 = 1u << 1;  // bit 1 reads as one
inline constexpr uint64_t kPf = 1u << 2;
inline constexpr uint64_t kAf = 1u << 4;
inline constexpr uint64_t kZf = 1u << 6;
inline constexpr uint64_t kSf = 1u << 7;
inline constexpr uint64_t kTf = 1u << 8;
inline constexpr uint64_t kIf = 1u << 9;
inline constexpr uint64_t kDf = 1u << 10;
inline constexpr uint64_t kOf = 1u << 11;
inline constexpr uint64_t kIopl = 3u << 12;
inline constexpr uint64_t kNt = 1u << 14;
inline constexpr uint64_t kRf = 1u << 16;
inline constexpr uint64_t kVm = 1u << 17;
inline constexpr uint64_t kAc = 1u << 18;
inline constexpr uint64_t kVif = 1u << 19;
inline constexpr uint64_t kVip = 1u << 20;
inline constexpr uint64_t kId = 1u << 21;
/// The six arithmetic status flags.
inline constexpr uint64_t kStatus = kCf | kPf | kAf | kZf | kSf | kOf;
}  // namespace flag

/// Control-register and EFER bits used by the core. APM vol 2, 3.1.1, 3.1.3, 3.1.7.
namespace ctl {
inline constexpr uint64_t kCr0Pe = 1u << 0;
inline constexpr uint64_t kCr0Mp = 1u << 1;
inline constexpr uint64_t kCr0Et = 1u << 4;
inline constexpr uint64_t kCr0Ne = 1u << 5;
inline constexpr uint64_t kCr0Wp = 1u << 16;
inline constexpr uint64_t kCr0Am = 1u << 18;
inline constexpr uint64_t kCr0Pg = uint64_t{1} << 31;
inline constexpr uint64_t kCr4Pae = 1u << 5;
inline constexpr uint64_t kCr4Tsd = 1u << 2;
inline constexpr uint64_t kEferSce = 1u << 0;
inline constexpr uint64_t kEferLme = 1u << 8;
inline constexpr uint64_t kEferLma = 1u << 10;
inline constexpr uint64_t kEferNxe = 1u << 11;
inline constexpr uint64_t kEferSvme = 1u << 12;
}  // namespace ctl

/// A segment register: the visible selector and the hidden descriptor cache.
/// `attrib` uses the VMCB packing (APM vol 2, 15.5.1): bits 7:0 = descriptor bits 47:40
/// (type, S, DPL, P), bits 11:8 = descriptor bits 55:52 (AVL, L, D/B, G).
struct Segment {
  uint16_t selector = 0;
  uint16_t attrib = 0;
  uint32_t limit = 0;
  uint64_t base = 0;

  static constexpr uint16_t kLong = 1u << 9;     // L: 64-bit code segment
  static constexpr uint16_t kDb = 1u << 10;      // D/B
  static constexpr uint16_t kPresent = 1u << 7;  // P
  uint8_t dpl() const { return (attrib >> 5) & 3; }
  bool operator==(const Segment&) const = default;
};

/// GDTR / IDTR. APM vol 2, 4.6.2 and 8.2.
struct DescriptorTable {
  uint64_t base = 0;
  uint16_t limit = 0;
  bool operator==(const DescriptorTable&) const = default;
};

/// MSRs kept by the core (the rest of the MSR file is computed, see msr.h).
struct MsrState {
  uint64_t star = 0;
  uint64_t lstar = 0;
  uint64_t cstar = 0;
  uint64_t sfmask = 0;
  uint64_t kernel_gs_base = 0;
  uint64_t tsc_offset = 0;  // TSC = cycle clock + tsc_offset (wraps modulo 2^64)
  uint64_t tsc_aux = 0;
  uint64_t apic_base = 0xFEE00900;  // reset: base 0xFEE00000, enable, BSP. APM vol 2, 16.3.1
  uint64_t pat = 0x0007040600070406;  // reset value. APM vol 2, 7.8.1
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;  // VMLOAD/VMSAVE state
  uint64_t vm_hsave_pa = 0;  // VM_HSAVE_PA (C001_0117): host save area. APM vol 2, 15.30.4
  uint64_t vm_cr = 0;        // VM_CR (C001_0114): SVMDIS (bit 4), LOCK (bit 3). APM vol 2, 15.30.1
  bool operator==(const MsrState&) const = default;
};

/// The architectural state of one core.
struct ArchState {
  std::array<uint64_t, 16> gpr{};
  uint64_t rip = 0;
  uint64_t rflags = flag::kFixed1;
  std::array<Segment, kSegCount> seg{};
  Segment ldtr{};
  Segment tr{};
  DescriptorTable gdtr{};
  DescriptorTable idtr{};
  uint64_t cr0 = ctl::kCr0Et | (1u << 30) | (1u << 29);  // reset: CD, NW, ET. APM vol 2, 14.1.3
  uint64_t cr2 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t cr8 = 0;
  uint64_t efer = 0;
  uint64_t xcr0 = 1;  // x87 bit is always set. APM vol 2, 11.5.2
  MsrState msr{};
  /// Current privilege level (CS.DPL as loaded; SS.DPL agrees in long mode).
  uint8_t cpl = 0;
  /// Interrupt shadow after STI / MOV SS: external interrupts wait one instruction.
  bool interrupt_shadow = false;
  /// Global interrupt flag (SVM): STGI sets, CLGI and #VMEXIT clear, VMRUN sets. While clear,
  /// interrupts and intercepted physical interrupts are held pending. APM vol 2, 15.17.
  bool gif = true;
  bool operator==(const ArchState&) const = default;
};

/// True when the core executes 64-bit code: EFER.LMA and CS.L. APM vol 2, 14.6.
inline bool in_64bit_mode(const ArchState& s) {
  return (s.efer & ctl::kEferLma) && (s.seg[kCs].attrib & Segment::kLong);
}

/// State of a core set up directly in 64-bit mode (flat segments, CPL 0, long mode active),
/// as the bare-metal run mode and the tests start it. Paging bits are left to the caller.
ArchState long_mode_state(uint64_t rip, uint64_t rsp);

}  // namespace snpemu::cpu
