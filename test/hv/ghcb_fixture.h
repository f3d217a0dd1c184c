// test/hv/ghcb_fixture.h: an SEV-ES or SNP VM (ExitFixture with the VM type), its VMCB set up by
// init_vmcb_sev_es, and helpers to build a GHCB page in guest memory, stage a VMGEXIT and read
// the hypervisor's answer back from guest memory as the guest would.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>

#include "ghcb/ghcb.h"
#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {

inline constexpr uint64_t kGhcbGpa = 0x20'0000;
inline constexpr uint64_t kVmsaHpa = 0x3F'F000;  // any page: the hypervisor never reads it

struct GhcbFixture : ExitFixture {
  explicit GhcbFixture(VmType type = VmType::kSevEs) : ExitFixture(type) {
    init_vmcb_sev_es(vmcb, VmcbSetup{.maps = maps, .asid = Asid{1}, .nested_cr3 = npt->root()},
                     SevEsVmcbSetup{.vmsa_pa = Hpa{kVmsaHpa},
                                    .vmsa_features = type == VmType::kSnp ? 1u : 0u,
                                    .sev = vmctx.sev});
    vmctx.options.hypercall_exit_enabled = uint64_t{1} << kKvmHcMapGpaRange;
  }

  /// A VMGEXIT with the GHCB MSR holding `msr` (as the core leaves it).
  ExitOutcome vmgexit_msr(uint64_t msr) {
    vmcb.control.ghcb_gpa = msr;
    stage(svm::ExitCode::kVmgexit);
    return run_exit();
  }

  // ---- building the guest's GHCB page ----
  ghcb::GhcbPage page{};
  void set(ghcb::GhcbField f, uint64_t v) {
    auto sp = std::span<std::byte, ghcb::kGhcbPageSize>(reinterpret_cast<std::byte*>(&page),
                                                        ghcb::kGhcbPageSize);
    ghcb::write_field(sp, f, v);
  }
  /// sw_exit_code/info1/info2 with their valid bits (what every Linux call sets).
  void call(uint64_t code, uint64_t info1, uint64_t info2) {
    set(ghcb::GhcbField::kSwExitCode, code);
    set(ghcb::GhcbField::kSwExitInfo1, info1);
    set(ghcb::GhcbField::kSwExitInfo2, info2);
  }
  void put_shared(size_t offset, const void* data, size_t n) {
    std::memcpy(reinterpret_cast<uint8_t*>(&page) + offset, data, n);
  }
  /// Writes the page into guest memory and exits with VMGEXIT (GHCB MSR = the page GPA).
  ExitOutcome vmgexit(uint64_t host_tsc = 0) {
    write_gpa(kGhcbGpa, &page, sizeof page);
    vmcb.control.ghcb_gpa = kGhcbGpa;
    stage(svm::ExitCode::kVmgexit);
    return run_exit(host_tsc);
  }

  // ---- the answer, read back from guest memory ----
  uint64_t ghcb64(size_t offset) { return read_gpa64(kGhcbGpa + offset); }
  uint64_t info1() { return ghcb64(offsetof(ghcb::GhcbSaveArea, sw_exit_info_1)); }
  uint64_t info2() { return ghcb64(offsetof(ghcb::GhcbSaveArea, sw_exit_info_2)); }
  uint64_t reg(ghcb::GhcbField f) { return ghcb64(ghcb::ghcb_field_offset(f)); }
  ghcb::ValidBitmap bitmap() {
    ghcb::ValidBitmap v;
    for (unsigned i = 0; i < 16; ++i) {
      const uint64_t w = ghcb64(offsetof(ghcb::GhcbSaveArea, valid_bitmap) + (i & ~7u));
      v.bytes[i] = static_cast<uint8_t>(w >> (8 * (i & 7)));
    }
    return v;
  }
  /// The bitmap KVM leaves: exactly these fields.
  static ghcb::ValidBitmap bits(std::initializer_list<ghcb::GhcbField> fs) {
    ghcb::ValidBitmap v;
    for (ghcb::GhcbField f : fs) v.set(f);
    return v;
  }
};

using F = ghcb::GhcbField;
inline const ghcb::ValidBitmap kAnswerBits = GhcbFixture::bits(
    {F::kSwExitInfo1, F::kSwExitInfo2, F::kRax, F::kRbx, F::kRcx, F::kRdx});

}  // namespace snpemu::hv::test
