// base/types.h: vocabulary types shared by every folder: strong address and id types.
//
// Addresses and ids that the hardware keeps apart get distinct types, so that a guest-physical
// address can never be passed where a host-physical one is expected (STYLE.md rule 13).
#pragma once

#include <compare>
#include <cstdint>

namespace snpemu {

// A 64-bit value with a tag that makes it a distinct type. Plain data: no invariants.
template <class Tag>
struct Strong64 {
  uint64_t value = 0;
  constexpr auto operator<=>(const Strong64&) const = default;
};

/// Host-physical address (system physical address in the APM's words).
using Hpa = Strong64<struct HpaTag>;
/// Guest-physical address.
using Gpa = Strong64<struct GpaTag>;
/// Guest-virtual (or host-virtual, for a core running as host) linear address.
using Gva = Strong64<struct GvaTag>;
/// Host page frame number: Hpa >> 12.
using Pfn = Strong64<struct PfnTag>;
/// Guest frame number: Gpa >> 12.
using Gfn = Strong64<struct GfnTag>;

/// Address space identifier; 0 is the host.
struct Asid {
  uint32_t value = 0;
  constexpr auto operator<=>(const Asid&) const = default;
};

/// Virtual machine privilege level, 0 (most privileged) to 3.
struct Vmpl {
  uint8_t value = 0;
  constexpr auto operator<=>(const Vmpl&) const = default;
};

inline constexpr uint64_t kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;  // 4 KiB
inline constexpr uint64_t kPageOffsetMask = kPageSize - 1;
inline constexpr uint64_t kLargePageSize = uint64_t{1} << 21;    // 2 MiB

constexpr Pfn pfn_of(Hpa pa) { return Pfn{pa.value >> kPageShift}; }
constexpr Hpa hpa_of(Pfn pfn) { return Hpa{pfn.value << kPageShift}; }
constexpr Gfn gfn_of(Gpa gpa) { return Gfn{gpa.value >> kPageShift}; }
constexpr Gpa gpa_of(Gfn gfn) { return Gpa{gfn.value << kPageShift}; }

}  // namespace snpemu
