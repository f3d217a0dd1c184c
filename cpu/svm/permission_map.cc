// cpu/svm/permission_map.cc: MSR permission map (MSRPM) and I/O permission map (IOPM) lookups.
// APM vol 2 15.10.1 (IOPM) and 15.11 (MSRPM); PLATFORM-FACTS 5.1.
#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

// APM vol 2 15.11, table "MSR Ranges": each range of 8K MSRs takes 2 KiB (2 bits per MSR, the
// even bit for reads, the odd bit for writes); bytes 0x1800-0x1FFF are reserved.
struct MsrRange {
  uint32_t first_msr;
  uint32_t map_offset;
};
constexpr MsrRange kMsrRanges[] = {
    {0x0000'0000, 0x0000},
    {0xC000'0000, 0x0800},
    {0xC001'0000, 0x1000},
};
constexpr uint32_t kMsrsPerRange = 0x2000;

constexpr uint64_t kPageMask = ~uint64_t{0xFFF};

}  // namespace

// APM 15.10.1 / 15.11: the low 12 bits of IOPM_BASE_PA and MSRPM_BASE_PA are ignored (KVM's
// nested.c masks them the same way when it caches vmcb12's controls).
Hpa msrpm_base(const VmcbControlArea& control) { return Hpa{control.msrpm_base_pa & kPageMask}; }
Hpa iopm_base(const VmcbControlArea& control) { return Hpa{control.iopm_base_pa & kPageMask}; }

std::optional<MsrpmSlot> msrpm_slot(uint32_t msr, MsrAccess access) {
  for (const MsrRange& r : kMsrRanges) {
    if (msr - r.first_msr < kMsrsPerRange) {
      const uint32_t bit_index = (msr - r.first_msr) * 2 + (access == MsrAccess::kWrite ? 1 : 0);
      return MsrpmSlot{.byte_offset = r.map_offset + bit_index / 8,
                       .bit = static_cast<uint8_t>(bit_index % 8)};
    }
  }
  return std::nullopt;  // APM 15.11: MSRs outside the ranges are always intercepted.
}

bool msr_intercepted(std::span<const uint8_t> msrpm, uint32_t msr, MsrAccess access) {
  const std::optional<MsrpmSlot> slot = msrpm_slot(msr, access);
  if (!slot || slot->byte_offset >= msrpm.size()) return true;
  return ((msrpm[slot->byte_offset] >> slot->bit) & 1u) != 0;
}

std::optional<IopmProbe> iopm_probe(uint16_t port, unsigned size) {
  if (size != 1 && size != 2 && size != 4) return std::nullopt;
  // APM 15.10.1: one bit per port; an access of N bytes checks the bits of ports port ..
  // port+N-1. The map holds 64K + 3 bits (12 KiB allocated), so an access at 0xFFFF reads bits
  // 0x10000-0x10002 in the third page rather than wrapping to port 0 (KVM's
  // nested_svm_intercept_ioio reads the bits the same linear way).
  const uint32_t first_bit = port;
  const unsigned start = first_bit % 8;
  return IopmProbe{.byte_offset = first_bit / 8,
                   .byte_count = static_cast<uint8_t>(start + size > 8 ? 2 : 1),
                   .mask = static_cast<uint16_t>(((1u << size) - 1) << start)};
}

bool io_intercepted(std::span<const uint8_t> iopm, uint16_t port, unsigned size) {
  const std::optional<IopmProbe> p = iopm_probe(port, size);
  if (!p || p->byte_offset + p->byte_count > iopm.size()) return true;
  uint16_t bits = iopm[p->byte_offset];
  if (p->byte_count == 2) bits = static_cast<uint16_t>(bits | (iopm[p->byte_offset + 1] << 8));
  return (bits & p->mask) != 0;
}

}  // namespace snpemu::svm
