// test/firmware/run_layout.h: what the launch-and-run tests share (launch_run_test for SNP,
// sev_launch_run_test for the legacy SEV-ES launch): the host-physical layout of the fixture's
// RAM around the guest and a helper that puts a structure at the start of a zeroed page. The
// core reaches RAM through snpemu::MachineBus (//emu/machine).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/types.h"

namespace snpemu::fw::test {

// Host-physical layout (the fixture uses 0x1000 for command buffers and keeps the RMP in the
// last MiB). The guest's GPA [0, 2 MiB) is mapped by the NPT to kGuestBase.
inline constexpr uint64_t kHostCode = 0x2000, kHostStack = 0x8000;
inline constexpr uint64_t kHsave = 0x30000, kVmcb = 0x31000, kIopm = 0x32000, kMsrpm = 0x35000;
inline constexpr uint64_t kNpt = 0x40000;
inline constexpr uint64_t kGuestBase = 0x200000;
inline constexpr Hpa kVmsaHpa{0x500000};
inline constexpr Asid kAsid{1};
inline constexpr uint64_t kCodeGpa = 0x1000, kDataGpa = 0x5000, kOutGpa = 0x6000;
inline constexpr uint64_t kValue = 0x1122334455667788;

/// A 4 KiB page holding `v` at offset 0, zeros after it.
template <class T>
std::vector<uint8_t> page_of(const T& v) {
  std::vector<uint8_t> page(kPageSize, 0);
  std::memcpy(page.data(), &v, sizeof v);
  return page;
}

}  // namespace snpemu::fw::test
