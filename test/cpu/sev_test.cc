// SEV memory encryption on the core: an SEV guest's private accesses (C-bit; fetches, guest
// page-table walks and every access with guest paging off) are encrypted with its ASID's key
// (APM vol 2, 15.34.5); shared (C=0) accesses are plain; the hypervisor reading private memory
// or an SEV-ES VMSA sees ciphertext; a guest without its key executes garbage.
#include <gtest/gtest.h>

#include "emu/memcrypt/memcrypt.h"
#include "test/cpu/svm_fixture.h"

namespace snpemu::cpu {
namespace {

using namespace testing;  // NOLINT: the fixture's constants

constexpr uint8_t kCBit = 51;  // CPUID 0x8000_001F EBX[5:0] on Zen 4 parts (PLATFORM-FACTS 0)
constexpr uint64_t kC = uint64_t{1} << kCBit;
constexpr memcrypt::Key kGuestKey{0x0123456789ABCDEF, 0x0FEDCBA987654321};
constexpr uint32_t kSevAsid = 5;

struct Keys {
  memcrypt::KeyTable keys;
};

class SevTest : public Keys, public SvmTest {
 protected:
  SevTest() : SvmTest(config(&keys)) {
    keys.install(Asid{kSevAsid}, kGuestKey);
    vmcb_.control.asid = kSevAsid;
    vmcb_.control.nested_ctl |= svm::nested_ctl::kSevEnable;
    build_npt();
    vmcb_.save.rip = 0x1000;
    intercept(Intercept::kHlt);
  }
  static CoreConfig config(const memcrypt::KeyTable* k) {
    CoreConfig c;
    c.keys = k;
    c.paging.c_bit = kCBit;
    return c;
  }
  // What the AMD-SP's LAUNCH_UPDATE does: the bytes land encrypted with the guest's key.
  void private_code(std::vector<uint8_t> bytes, uint64_t gpa) {
    memcrypt::apply(kGuestKey, kGuestBase + gpa, bytes);
    code(bytes, kGuestBase + gpa);
  }
  uint64_t decrypt64(uint64_t hpa) {
    uint64_t v = bus_.peek<uint64_t>(hpa);
    memcrypt::apply(kGuestKey, hpa, std::span(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  // Guest 4-level tables (in private memory, encrypted) identity-mapping GPA [0, 2 MiB) with
  // 4 KiB pages; `shared_gpa` is mapped without the C-bit.
  void guest_paging(uint64_t shared_gpa) {
    const uint64_t pml4 = 0x40000, pdpt = 0x41000, pd = 0x42000, pt = 0x43000;
    auto put = [&](uint64_t gpa, uint64_t v) {
      memcrypt::apply(kGuestKey, kGuestBase + gpa, std::span(reinterpret_cast<uint8_t*>(&v), 8));
      bus_.poke<uint64_t>(kGuestBase + gpa, v);
    };
    put(pml4, pdpt | kC | 3);
    put(pdpt, pd | kC | 3);
    put(pd, pt | kC | 3);
    for (uint64_t i = 0; i < 512; ++i) put(pt + 8 * i, (i << 12) | (i << 12 == shared_gpa ? 0 : kC) | 3);
    vmcb_.save.cr0 |= ctl::kCr0Pg;
    vmcb_.save.cr3 = pml4 | kC;
  }
};

TEST_F(SevTest, PrivateStoreIsCiphertextToTheHost) {
  // mov rax, 0x1122334455667788; mov [0x5000], rax; hlt  (guest paging off: all private)
  private_code({0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x48, 0x89, 0x04, 0x25,
                0x00, 0x50, 0x00, 0x00, 0xF4},
               0x1000);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kHlt)) << "the guest ran its code";
  EXPECT_NE(bus_.peek<uint64_t>(kGuestBase + 0x5000), 0x1122334455667788u)
      << "the hypervisor must see ciphertext";
  EXPECT_EQ(decrypt64(kGuestBase + 0x5000), 0x1122334455667788u) << "and the guest key opens it";
}

TEST_F(SevTest, SharedPageIsPlainAndPrivatePageIsNot) {
  guest_paging(/*shared_gpa=*/0x6000);
  // mov rax, 0xAB; mov [0x6000], rax; mov [0x5000], rax; mov rbx, [0x6008]; hlt
  private_code({0x48, 0xC7, 0xC0, 0xAB, 0, 0, 0, 0x48, 0x89, 0x04, 0x25, 0x00, 0x60, 0, 0, 0x48,
                0x89, 0x04, 0x25, 0x00, 0x50, 0, 0, 0x48, 0x8B, 0x1C, 0x25, 0x08, 0x60, 0, 0, 0xF4},
               0x1000);
  bus_.poke<uint64_t>(kGuestBase + 0x6008, 0xC0FFEE);  // the host writes the shared page
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kHlt));
  EXPECT_EQ(bus_.peek<uint64_t>(kGuestBase + 0x6000), 0xABu) << "C=0: shared, plain";
  EXPECT_NE(bus_.peek<uint64_t>(kGuestBase + 0x5000), 0xABu) << "C=1: private, encrypted";
  EXPECT_EQ(decrypt64(kGuestBase + 0x5000), 0xABu);
  EXPECT_EQ(core_.state().gpr[kRbx], 0xC0FFEEu) << "the guest read the host's shared data";
}

TEST_F(SevTest, GuestWithoutItsKeyExecutesGarbage) {
  keys.remove(Asid{kSevAsid});
  private_code({0x48, 0xC7, 0xC3, 0x42, 0, 0, 0, 0xF4}, 0x1000);  // mov rbx, 0x42; hlt
  const StopReason r = enter_and_run();
  const bool reached = r == StopReason::kVmexit &&
                       read_vmcb().control.exit_code == svm::to_u64(ExitCode::kHlt) &&
                       core_.state().gpr[kRbx] == 0x42;
  EXPECT_FALSE(reached) << "code encrypted under a key the ASID no longer has cannot run";
}

TEST_F(SevTest, SelfModifyingPrivateCodeTakesEffect) {
  // The predecode cache keeps ciphertext; a private store into the code changes it.
  // 1000: mov byte [0x1010], 0x05  (turns "mov bl, 4" into "mov bl, 5")
  // 1008: nop x8; 1010 holds the imm8 of "mov bl, imm8" at 100F
  std::vector<uint8_t> c = {0xC6, 0x04, 0x25, 0x10, 0x10, 0, 0, 0x05};  // 8 bytes, ends at 1008
  while (c.size() < 0xF) c.push_back(0x90);
  c.insert(c.end(), {0xB3, 0x04, 0xF4});  // 100F: mov bl, 4; hlt
  private_code(c, 0x1000);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kHlt));
  EXPECT_EQ(core_.state().gpr[kRbx] & 0xFF, 5u);
}

TEST_F(SevTest, SevEsVmsaIsEncryptedForTheHypervisor) {
  vmcb_.control.nested_ctl |= svm::nested_ctl::kSevEsEnable;
  vmcb_.control.vmsa_pa = kVmsa;
  svm::SevEsSaveArea a{};
  a.cs = vmcb_.save.cs;
  a.ds = a.es = a.ss = vmcb_.save.ds;
  a.efer = vmcb_.save.efer;
  a.cr0 = vmcb_.save.cr0;
  a.cr4 = vmcb_.save.cr4;
  a.rflags = 2;
  a.rip = 0x1000;
  a.rsp = 0x8000;
  a.g_pat = vmcb_.save.g_pat;
  memcrypt::apply(kGuestKey, kVmsa, std::span(reinterpret_cast<uint8_t*>(&a), sizeof a));
  bus_.poke(kVmsa, a);
  // mov rbx, 0x5EC2E7; vmgexit
  private_code({0x48, 0xC7, 0xC3, 0xE7, 0xC2, 0x5E, 0x00, 0xF3, 0x0F, 0x01, 0xD9}, 0x1000);
  ASSERT_EQ(enter_and_run(), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  auto raw = bus_.peek<svm::SevEsSaveArea>(kVmsa);
  EXPECT_NE(raw.rbx, 0x5EC2E7u) << "a hypervisor read of the VMSA sees ciphertext";
  memcrypt::apply(kGuestKey, kVmsa, std::span(reinterpret_cast<uint8_t*>(&raw), sizeof raw));
  EXPECT_EQ(raw.rbx, 0x5EC2E7u);
  EXPECT_EQ(raw.rip, 0x100Bu);
}

}  // namespace
}  // namespace snpemu::cpu
