// test/firmware/run_layout.h: what the launch-and-run tests share (launch_run_test for SNP,
// sev_launch_run_test for the legacy SEV-ES launch): the host-physical layout of the fixture's
// RAM around the guest and a helper that puts a structure at the start of a zeroed page. The
// core reaches RAM through snpemu::MachineBus (//emu/machine).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/types.h"
#include "cpu/cpu.h"
#include "cpu/svm/svm.h"
#include "emu/memcrypt/memcrypt.h"
#include "test/firmware/mailbox_fixture.h"

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

/// The hypervisor's part of a run: an NPT mapping GPA [0, 2 MiB) to kGuestBase and a VMCB
/// (kVmcb) for an SEV-ES guest (NP, SEV, SEV-ES) of kAsid whose VMSA is at kVmsaHpa.
inline void write_host_tables(Host& h) {
  auto poke = [&h](uint64_t hpa, uint64_t v) {
    h.write(Hpa{hpa}, std::span(reinterpret_cast<const uint8_t*>(&v), 8));
  };
  constexpr uint64_t kFlags = 0x7;  // P RW US
  const uint64_t pdpt = kNpt + 0x1000, pd = kNpt + 0x2000, pt = kNpt + 0x3000;
  poke(kNpt, pdpt | kFlags);
  poke(pdpt, pd | kFlags);
  poke(pd, pt | kFlags);
  for (uint64_t i = 0; i < 512; ++i) poke(pt + 8 * i, (kGuestBase + (i << 12)) | kFlags);
  const cpu::ArchState g = cpu::long_mode_state(kCodeGpa, 0x8000);
  svm::Vmcb v{};
  v.control.asid = kAsid.value;
  v.control.iopm_base_pa = kIopm;
  v.control.msrpm_base_pa = kMsrpm;
  svm::set_intercept(v.control, svm::Intercept::kVmrun);
  v.control.nested_ctl = svm::nested_ctl::kNpEnable | svm::nested_ctl::kSevEnable | svm::nested_ctl::kSevEsEnable;
  v.control.nested_cr3 = kNpt;
  v.control.vmsa_pa = kVmsaHpa.value;
  v.save.efer = g.efer | cpu::ctl::kEferSvme;
  v.save.cr0 = g.cr0;
  v.save.cr4 = g.cr4;
  v.save.rflags = 2;
  v.save.g_pat = 0x0007040600070406;
  h.write(Hpa{kVmcb}, page_of(v));
}

/// `size` bytes at `hpa` decrypted with the key in kAsid's slot (what the guest sees).
inline std::vector<uint8_t> decrypt(Host& h, Hpa hpa, size_t size) {
  std::vector<uint8_t> b = h.read(hpa, size);
  memcrypt::apply(*h.keys->key(kAsid), hpa.value, b);
  return b;
}

}  // namespace snpemu::fw::test
