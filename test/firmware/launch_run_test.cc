// The AMD-SP and the core share the memory controller's key slots: an SNP guest launched through
// the mailbox (code and data as NORMAL pages, an output page as ZERO, its VMSA as a VMSA page)
// runs on a core whose CoreConfig::keys is the KeyTable the firmware programmed. The guest can
// only execute its code, read its data and start from its VMSA if the firmware encrypted each
// page with the key the core uses for the ASID at the page's host-physical address; the
// hypervisor then sees ciphertext in the guest's memory and VMSA. PLATFORM-FACTS 8.10 (launch
// order), 5.4 (SEV_FEATURES), firmware.h mailbox section.
#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <vector>

#include "base/hex.h"
#include "cpu/cpu.h"
#include "cpu/svm/svm.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "emu/machine/machine.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/run_layout.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kGctx{0x50000};
using namespace test;  // run_layout.h: the layout, page_of

class LaunchRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h_.run(CommandId::kSnpInit), Status::kSuccess) << h_.fw->last_error();
    ASSERT_EQ(h_.start_guest(kGctx, kAsid), Status::kSuccess) << h_.fw->last_error();
    const cpu::ArchState g = cpu::long_mode_state(kCodeGpa, 0x8000);
    // The guest (paging off: every access is private): copy its data to its output page, read
    // it back, VMGEXIT.
    std::vector<uint8_t> code = {
        0x48, 0x8B, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00,  // mov rax, [0x5000]
        0x48, 0x89, 0x04, 0x25, 0x00, 0x60, 0x00, 0x00,  // mov [0x6000], rax
        0x48, 0x8B, 0x1C, 0x25, 0x00, 0x60, 0x00, 0x00,  // mov rbx, [0x6000]
        0xF3, 0x0F, 0x01, 0xD9,                          // vmgexit
    };
    code.resize(kPageSize, 0xF4);
    std::vector<uint8_t> data(kPageSize, 0);
    std::memcpy(data.data(), &kValue, 8);
    svm::SevEsSaveArea a{};
    a.cs = {0x08, g.seg[cpu::kCs].attrib, 0xFFFFFFFF, 0};
    a.ds = a.es = a.ss = {0x10, 0xC93, 0xFFFFFFFF, 0};
    a.efer = g.efer | cpu::ctl::kEferSvme;
    a.cr0 = g.cr0;
    a.cr4 = g.cr4;
    a.rflags = 2;
    a.rip = kCodeGpa;
    a.rsp = 0x8000;
    a.sev_features = svm::sev_features::kSnpActive;
    a.g_pat = 0x0007040600070406;
    vmsa_in_ = page_of(a);
    launch(Hpa{kGuestBase + kCodeGpa}, kCodeGpa, PageType::kNormal, code);
    launch(Hpa{kGuestBase + kDataGpa}, kDataGpa, PageType::kNormal, data);
    launch(Hpa{kGuestBase + kOutGpa}, kOutGpa, PageType::kZero,
           std::vector<uint8_t>(kPageSize, 0xEE));
    launch(kVmsaHpa, kVmsaGpa.value, PageType::kVmsa, vmsa_in_);
    if (HasFatalFailure()) return;
    ASSERT_EQ(h_.launch_finish(kGctx), Status::kSuccess) << h_.fw->last_error();
    write_host_tables(h_);
  }
  void launch(Hpa hpa, uint64_t gpa, PageType type, const std::vector<uint8_t>& bytes) {
    h_.write(hpa, bytes);
    ASSERT_EQ(h_.make_pre_guest(hpa, kAsid, Gpa{gpa}), rmp::RmpRc::kSuccess);
    ASSERT_EQ(h_.launch_update(kGctx, hpa, type), Status::kSuccess)
        << page_type_name(type) << " at hpa " << hex(hpa.value) << ": " << h_.fw->last_error();
  }
  // The hypervisor's part: NPT for GPA [0, 2 MiB), a VMCB for an SNP guest with the launched VMSA.

  Host h_ = Host::make_encrypted();
  std::vector<uint8_t> vmsa_in_;
};

TEST_F(LaunchRun, GuestRunsFromPagesTheFirmwareEncrypted) {
  if (HasFatalFailure()) return;
  ASSERT_TRUE(h_.keys->key(kAsid).has_value()) << "SNP_ACTIVATE programmed no key";
  MachineBus bus(*h_.mem);
  cpu::CoreConfig config;
  config.keys = h_.keys.get();
  config.rmp = &*h_.rmp;
  cpu::Core core(bus, config);
  cpu::ArchState& host = core.state();
  host = cpu::long_mode_state(kHostCode, kHostStack);
  host.efer |= cpu::ctl::kEferSvme;
  host.msr.vm_hsave_pa = kHsave;
  auto entered = core.vmrun(kVmcb);
  ASSERT_TRUE(entered.has_value()) << "VMRUN faulted, vector " << int(entered.error().vector);
  ASSERT_TRUE(*entered) << "VMRUN refused the SNP guest";
  ASSERT_EQ(core.run(1'000'000), cpu::StopReason::kVmexit);
  svm::Vmcb v{};
  const auto raw_vmcb = h_.read(Hpa{kVmcb}, sizeof v);
  std::memcpy(&v, raw_vmcb.data(), sizeof v);
  ASSERT_EQ(v.control.exit_code, svm::to_u64(svm::ExitCode::kVmgexit))
      << "expected the guest's VMGEXIT, got exit code " << hex(v.control.exit_code)
      << " (garbage code means the key or address of the launch encryption is wrong)";
  // The guest's registers, from its encrypted VMSA.
  svm::SevEsSaveArea out{};
  const auto vmsa = decrypt(h_, kVmsaHpa, sizeof out);
  std::memcpy(&out, vmsa.data(), sizeof out);
  EXPECT_EQ(out.rax, kValue) << "rax: the guest read its launched data page at gpa 0x5000";
  EXPECT_EQ(out.rbx, kValue) << "rbx: read back from its ZERO-launched page at gpa 0x6000";
  EXPECT_EQ(out.rip, kCodeGpa + 28) << "rip after VMGEXIT";
  // The hypervisor's view: ciphertext.
  uint64_t raw_out = 0;
  const auto out_page = h_.read(Hpa{kGuestBase + kOutGpa}, 8);
  std::memcpy(&raw_out, out_page.data(), 8);
  EXPECT_NE(raw_out, kValue) << "the hypervisor reads plaintext at hpa "
                             << hex(kGuestBase + kOutGpa);
  uint64_t plain_out = 0;
  std::memcpy(&plain_out, decrypt(h_, Hpa{kGuestBase + kOutGpa}, 8).data(), 8);
  EXPECT_EQ(plain_out, kValue) << "the guest's store at gpa 0x6000, decrypted with the slot key";
}

}  // namespace
}  // namespace snpemu::fw
