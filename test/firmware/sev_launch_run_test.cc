// An SEV-ES guest launched with the legacy commands (test/firmware/sev_fixture.h launch_sev:
// LAUNCH_START, ACTIVATE, LAUNCH_UPDATE_DATA for code, data and a zeroed output page,
// LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_FINISH) runs on a core whose CoreConfig::keys is the
// KeyTable the firmware programmed at ACTIVATE, with SNP off (no RMP in the core config, no
// SNP_INIT) and no SNP bit in SEV_FEATURES. The guest can only execute its code, read its data and
// start from its VMSA if LAUNCH_UPDATE_* encrypted them with the key of its ASID at their
// host-physical addresses; the hypervisor sees ciphertext. PLATFORM-FACTS 5.4, firmware.h
// mailbox section ("legacy SEV").
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
#include "test/firmware/sev_fixture.h"

namespace snpemu::fw {
namespace {

using test::Host;

using namespace test;  // run_layout.h: the layout, page_of

class SevEsLaunchRun : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(test::sev_init(h_), Status::kSuccess) << h_.fw->last_error();
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
    a.sev_features = 0;  // SEV-ES: no SNP_ACTIVE
    a.g_pat = 0x0007040600070406;
    vmsa_in_ = page_of(a);
    test::SevImage image;
    image.data = {{Hpa{kGuestBase + kCodeGpa}, code},
                  {Hpa{kGuestBase + kDataGpa}, data},
                  {Hpa{kGuestBase + kOutGpa}, std::vector<uint8_t>(kPageSize, 0)}};
    image.vmsas = {{kVmsaHpa, vmsa_in_}};
    const test::SevLaunch r = test::launch_sev(h_, test::kSevEsPolicy, kAsid, image);
    ASSERT_EQ(r.status, Status::kSuccess) << command_name(r.failed) << ": " << h_.fw->last_error();
    write_host_tables(h_);
  }
  // The hypervisor's part: NPT for GPA [0, 2 MiB), a VMCB for an SEV-ES guest with the VMSA.

  Host h_ = Host::make_encrypted();
  std::vector<uint8_t> vmsa_in_;
};

TEST_F(SevEsLaunchRun, GuestRunsFromPagesLaunchUpdateEncrypted) {
  if (HasFatalFailure()) return;
  ASSERT_TRUE(h_.keys->key(kAsid).has_value()) << "ACTIVATE programmed no key";
  expect_guest_ran_encrypted(h_, nullptr);  // SNP off: a legacy SEV-ES guest
  if (HasFatalFailure()) return;
  uint64_t raw_data = 0;
  std::memcpy(&raw_data, h_.read(Hpa{kGuestBase + kDataGpa}, 8).data(), 8);
  EXPECT_NE(raw_data, kValue) << "the launched data page is plaintext to the hypervisor";
}

}  // namespace
}  // namespace snpemu::fw
