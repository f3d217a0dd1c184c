// The legacy SEV-ES launch through the KVM facade (emu/kvm/sev_launch.cc): the guest's pages are
// encrypted in place with the key ACTIVATE bound to the VM's ASID (the host then reads
// ciphertext), the pages the firmware wrote return to the hypervisor in the RMP after each
// command (SNP is initialised on this machine: legacy buffers are firmware-owned only during a
// command), LAUNCH_MEASURE gives the 48-byte blob, and KVM's order is enforced.
#include <gtest/gtest.h>

#include <vector>

#include "base/hex.h"
#include "emu/kvm/kvm.h"
#include "emu/memcrypt/memcrypt.h"
#include "test/kvm/host_fixture.h"

namespace snpemu::kvm {
namespace {

using test::kGuestMem;

struct Host : test::Host {
  Host() : test::Host(1) {}
};

TEST(SevKvm, LaunchEncryptsInPlaceAndMeasures) {
  Host h;
  auto vm = h.vm(hv::VmType::kSevEs);
  ASSERT_TRUE(vm);
  EXPECT_LT(vm->asid().value, 100u) << "SEV-ES guests take ASIDs below min_sev_asid";
  std::vector<uint8_t> data(2 * kPageSize);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + 1);
  ASSERT_TRUE(vm->write_guest(0x200000, data).has_value());
  vm->vcpu(0).set_long_mode_start(hv::LongModeStart{.rip = 0x200000, .rsp = 0x80000, .cr3 = 0x1000});
  ASSERT_TRUE(vm->sev_launch_start(0x7).has_value());
  auto update = vm->sev_launch_update_data(0x200000, data.size());
  ASSERT_TRUE(update.has_value()) << update.error().describe();
  const auto key = h.machine->keys().key(vm->asid());
  ASSERT_TRUE(key.has_value()) << "ACTIVATE installed no key";
  std::vector<uint8_t> seen(data.size());
  ASSERT_TRUE(vm->read_guest(0x200000, seen).has_value());
  EXPECT_NE(seen, data) << "the VMM still reads plaintext after LAUNCH_UPDATE_DATA";
  for (uint64_t p = 0; p < 2; ++p) {
    const Pfn pfn = *vm->vm().shared_backing(Gfn{(0x200000 >> kPageShift) + p});
    std::vector<uint8_t> page(seen.begin() + p * kPageSize, seen.begin() + (p + 1) * kPageSize);
    memcrypt::apply(*key, pfn.value << kPageShift, page);
    EXPECT_TRUE(std::equal(page.begin(), page.end(), data.begin() + p * kPageSize)) << "page " << p << " decrypted";
    EXPECT_FALSE(h.machine->rmp()->entry(pfn).assigned) << "reclaimed after the command";
  }
  ASSERT_TRUE(vm->sev_launch_update_vmsa().has_value());
  EXPECT_EQ(vm->vcpu(0).set_vmsa(svm::SevEsSaveArea{}).error().code, hv::KvmErrno::kEinval)
      << "the VMSA is protected after LAUNCH_UPDATE_VMSA";
  auto blob = vm->sev_launch_measure();
  ASSERT_TRUE(blob.has_value()) << blob.error().describe();
  EXPECT_NE(*blob, (std::array<uint8_t, 48>{}));
  ASSERT_TRUE(vm->sev_launch_finish().has_value());
}

TEST(SevKvm, TheLaunchRunsInKvmsOrder) {
  Host h;
  auto snp = h.vm(hv::VmType::kSnp);
  ASSERT_TRUE(snp);
  EXPECT_EQ(snp->sev_launch_start(0x7).error().code, hv::KvmErrno::kEinval) << "not an SEV VM";
  auto vm = h.vm(hv::VmType::kSevEs);
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->sev_launch_update_data(0, kPageSize).error().code, hv::KvmErrno::kEinval) << "before start";
  EXPECT_EQ(vm->sev_launch_finish().error().code, hv::KvmErrno::kEinval) << "before start";
  ASSERT_TRUE(vm->sev_launch_start(0x7).has_value());
  EXPECT_EQ(vm->sev_launch_start(0x7).error().code, hv::KvmErrno::kEinval) << "twice";
  EXPECT_EQ(vm->sev_launch_finish().error().code, hv::KvmErrno::kEinval) << "finish before measure";
  EXPECT_EQ(vm->sev_launch_update_data(kGuestMem, kPageSize).error().code, hv::KvmErrno::kEfault)
      << "outside the memslot";
  vm->vcpu(0).set_long_mode_start(hv::LongModeStart{.rip = 0x200000, .rsp = 0x80000, .cr3 = 0x1000});
  // An SEV-ES guest is measured only with its VMSA: the firmware refuses the measurement.
  auto early = vm->sev_launch_measure();
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, hv::KvmErrno::kEio);
}

}  // namespace
}  // namespace snpemu::kvm
