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
  expect_guest_ran_encrypted(h_, &*h_.rmp);
}

}  // namespace
}  // namespace snpemu::fw
