// test/firmware/run_layout.h: what the launch-and-run tests share (launch_run_test for SNP,
// sev_launch_run_test for the legacy SEV-ES launch): the host-physical layout of the fixture's
// RAM around the guest and a helper that puts a structure at the start of a zeroed page. The
// core reaches RAM through snpemu::MachineBus (//emu/machine).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "base/hex.h"
#include "base/types.h"
#include "emu/machine/machine.h"
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

/// Runs the launched guest (VMCB at kVmcb, see write_host_tables) on a core that shares the
/// fixture's key slots (and `rmp`: the RMP for an SNP guest, null for a legacy one) up to its
/// VMGEXIT, then checks what the guest did and what the hypervisor sees: RAX and RBX hold
/// kValue (read from its data page, stored to and read back from its output page), RIP is after
/// the VMGEXIT, and the output page is ciphertext to the host but kValue under the slot key.
inline void expect_guest_ran_encrypted(Host& h, rmp::Rmp* rmp) {
  MachineBus bus(*h.mem);
  cpu::CoreConfig config;
  config.keys = h.keys.get();
  config.rmp = rmp;
  cpu::Core core(bus, config);
  cpu::ArchState& host = core.state();
  host = cpu::long_mode_state(kHostCode, kHostStack);
  host.efer |= cpu::ctl::kEferSvme;
  host.msr.vm_hsave_pa = kHsave;
  auto entered = core.vmrun(kVmcb);
  ASSERT_TRUE(entered.has_value()) << "VMRUN faulted, vector " << int(entered.error().vector);
  ASSERT_TRUE(*entered) << "VMRUN refused the guest (rule " << int(core.last_vmrun_check()) << ")";
  ASSERT_EQ(core.run(1'000'000), cpu::StopReason::kVmexit);
  svm::Vmcb v{};
  const auto raw_vmcb = h.read(Hpa{kVmcb}, sizeof v);
  std::memcpy(&v, raw_vmcb.data(), sizeof v);
  ASSERT_EQ(v.control.exit_code, svm::to_u64(svm::ExitCode::kVmgexit))
      << "expected the guest's VMGEXIT, got exit code " << hex(v.control.exit_code)
      << " (garbage code means the key or address of the launch encryption is wrong)";
  // The guest's registers, from its encrypted VMSA.
  svm::SevEsSaveArea out{};
  const auto vmsa = decrypt(h, kVmsaHpa, sizeof out);
  std::memcpy(&out, vmsa.data(), sizeof out);
  EXPECT_EQ(out.rax, kValue) << "rax: the guest read its launched data page at gpa 0x5000";
  EXPECT_EQ(out.rbx, kValue) << "rbx: read back from its launched output page at gpa 0x6000";
  EXPECT_EQ(out.rip, kCodeGpa + 28) << "rip after VMGEXIT";
  // The hypervisor's view: ciphertext.
  uint64_t raw_out = 0;
  std::memcpy(&raw_out, h.read(Hpa{kGuestBase + kOutGpa}, 8).data(), 8);
  EXPECT_NE(raw_out, kValue) << "the hypervisor reads plaintext at hpa " << hex(kGuestBase + kOutGpa);
  uint64_t plain_out = 0;
  std::memcpy(&plain_out, decrypt(h, Hpa{kGuestBase + kOutGpa}, 8).data(), 8);
  EXPECT_EQ(plain_out, kValue) << "the guest's store at gpa 0x6000, decrypted with the slot key";
}

}  // namespace snpemu::fw::test
