// test/svm/layout_test.cc: every VMCB / VMSA field is found at its spec offset. Each row writes a
// distinct byte pattern at the offset the spec gives (hand-copied from PLATFORM-FACTS 5.1 / 5.3
// and Linux asm/svm.h, not from offsetof) into a zeroed image and reads it through the struct.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "base/hex.h"
#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

template <class S, class T>
::testing::AssertionResult reads_at(T S::*member, size_t offset, const char* name) {
  if (offset + sizeof(T) > sizeof(S)) {
    return ::testing::AssertionFailure() << name << ": offset " << hex(offset) << " + size "
                                         << sizeof(T) << " exceeds the struct";
  }
  std::vector<uint8_t> image(sizeof(S), 0);
  std::vector<uint8_t> pattern(sizeof(T));
  for (size_t i = 0; i < pattern.size(); ++i) {
    const auto b = static_cast<uint8_t>((offset * 31 + i * 7 + 0x5B) & 0xFF);
    pattern[i] = b == 0 ? 0xA5 : b;
  }
  std::memcpy(image.data() + offset, pattern.data(), sizeof(T));
  S s;
  std::memcpy(&s, image.data(), sizeof(S));
  if (std::memcmp(&(s.*member), pattern.data(), sizeof(T)) != 0) {
    return ::testing::AssertionFailure() << "expected " << name << " at offset " << hex(offset)
                                         << ", the struct reads other bytes there";
  }
  // Nothing else of the struct may have changed: the rest of the image is zero.
  std::vector<uint8_t> back(sizeof(S));
  std::memcpy(back.data(), &s, sizeof(S));
  std::memset(back.data() + offset, 0, sizeof(T));
  for (size_t i = 0; i < back.size(); ++i) {
    if (back[i] != 0) {
      return ::testing::AssertionFailure() << name << ": stray byte at " << hex(i);
    }
  }
  return ::testing::AssertionSuccess();
}

#define AT(S, field, off) EXPECT_TRUE(reads_at(&S::field, off, #S "::" #field))

TEST(Layout, SizesMatchLinux) {
  // Linux asm/svm.h EXPECTED_*_SIZE.
  EXPECT_EQ(sizeof(VmcbControlArea), 1024u);
  EXPECT_EQ(sizeof(VmcbSaveArea), 744u);
  EXPECT_EQ(sizeof(SevEsSaveArea), 1648u);
  EXPECT_EQ(sizeof(Vmcb), 4096u);
  EXPECT_EQ(sizeof(VmcbSeg), 16u);
}

TEST(Layout, VmcbSeg) {
  AT(VmcbSeg, selector, 0x0);
  AT(VmcbSeg, attrib, 0x2);
  AT(VmcbSeg, limit, 0x4);
  AT(VmcbSeg, base, 0x8);
}

TEST(Layout, ControlArea) {
  using C = VmcbControlArea;
  AT(C, intercepts, 0x000);
  AT(C, pause_filter_thresh, 0x03C);
  AT(C, pause_filter_count, 0x03E);
  AT(C, iopm_base_pa, 0x040);
  AT(C, msrpm_base_pa, 0x048);
  AT(C, tsc_offset, 0x050);
  AT(C, asid, 0x058);
  AT(C, tlb_ctl, 0x05C);
  AT(C, erap_ctl, 0x05D);
  AT(C, int_ctl, 0x060);
  AT(C, int_vector, 0x064);
  AT(C, int_state, 0x068);
  AT(C, exit_code, 0x070);
  AT(C, exit_info_1, 0x078);
  AT(C, exit_info_2, 0x080);
  AT(C, exit_int_info, 0x088);
  AT(C, exit_int_info_err, 0x08C);
  AT(C, nested_ctl, 0x090);
  AT(C, avic_vapic_bar, 0x098);
  AT(C, ghcb_gpa, 0x0A0);
  AT(C, event_inj, 0x0A8);
  AT(C, event_inj_err, 0x0AC);
  AT(C, nested_cr3, 0x0B0);
  AT(C, virt_ext, 0x0B8);
  AT(C, clean, 0x0C0);
  AT(C, next_rip, 0x0C8);
  AT(C, insn_len, 0x0D0);
  AT(C, insn_bytes, 0x0D1);
  AT(C, avic_backing_page, 0x0E0);
  AT(C, avic_logical_id, 0x0F0);
  AT(C, avic_physical_id, 0x0F8);
  AT(C, vmsa_pa, 0x108);
  AT(C, bus_lock_counter, 0x120);
  AT(C, allowed_sev_features, 0x138);
  AT(C, guest_sev_features, 0x140);
  AT(C, reserved_sw, 0x3E0);
}

TEST(Layout, SaveArea) {
  using S = VmcbSaveArea;
  AT(S, es, 0x000);
  AT(S, cs, 0x010);
  AT(S, ss, 0x020);
  AT(S, ds, 0x030);
  AT(S, fs, 0x040);
  AT(S, gs, 0x050);
  AT(S, gdtr, 0x060);
  AT(S, ldtr, 0x070);
  AT(S, idtr, 0x080);
  AT(S, tr, 0x090);
  AT(S, vmpl, 0x0CA);
  AT(S, cpl, 0x0CB);
  AT(S, efer, 0x0D0);
  AT(S, cr4, 0x148);
  AT(S, cr3, 0x150);
  AT(S, cr0, 0x158);
  AT(S, dr7, 0x160);
  AT(S, dr6, 0x168);
  AT(S, rflags, 0x170);
  AT(S, rip, 0x178);
  AT(S, rsp, 0x1D8);
  AT(S, s_cet, 0x1E0);
  AT(S, ssp, 0x1E8);
  AT(S, isst_addr, 0x1F0);
  AT(S, rax, 0x1F8);
  AT(S, star, 0x200);
  AT(S, lstar, 0x208);
  AT(S, cstar, 0x210);
  AT(S, sfmask, 0x218);
  AT(S, kernel_gs_base, 0x220);
  AT(S, sysenter_cs, 0x228);
  AT(S, sysenter_esp, 0x230);
  AT(S, sysenter_eip, 0x238);
  AT(S, cr2, 0x240);
  AT(S, g_pat, 0x268);
  AT(S, dbgctl, 0x270);
  AT(S, br_from, 0x278);
  AT(S, br_to, 0x280);
  AT(S, last_excp_from, 0x288);
  AT(S, last_excp_to, 0x290);
  AT(S, spec_ctrl, 0x2E0);
}

TEST(Layout, WholeVmcb) {
  AT(Vmcb, control, 0x000);
  AT(Vmcb, save, 0x400);
  // A save-area field through the whole page: guest RIP at VMCB+0x578.
  std::array<uint8_t, sizeof(Vmcb)> image{};
  const uint64_t rip = 0xFFFF'FFFF'8100'1234ull;
  std::memcpy(image.data() + 0x400 + 0x178, &rip, 8);
  Vmcb v;
  std::memcpy(&v, image.data(), sizeof v);
  EXPECT_EQ(v.save.rip, rip) << "expected guest rip at VMCB+0x578";
}

TEST(Layout, Vmsa) {
  using V = SevEsSaveArea;
  AT(V, es, 0x000);
  AT(V, cs, 0x010);
  AT(V, tr, 0x090);
  AT(V, pl0_ssp, 0x0A0);
  AT(V, pl1_ssp, 0x0A8);
  AT(V, pl2_ssp, 0x0B0);
  AT(V, pl3_ssp, 0x0B8);
  AT(V, u_cet, 0x0C0);
  AT(V, vmpl, 0x0CA);
  AT(V, cpl, 0x0CB);
  AT(V, efer, 0x0D0);
  AT(V, xss, 0x140);
  AT(V, cr4, 0x148);
  AT(V, cr3, 0x150);
  AT(V, cr0, 0x158);
  AT(V, dr7, 0x160);
  AT(V, dr6, 0x168);
  AT(V, rflags, 0x170);
  AT(V, rip, 0x178);
  AT(V, dr0, 0x180);
  AT(V, dr1, 0x188);
  AT(V, dr2, 0x190);
  AT(V, dr3, 0x198);
  AT(V, dr0_addr_mask, 0x1A0);
  AT(V, dr1_addr_mask, 0x1A8);
  AT(V, dr2_addr_mask, 0x1B0);
  AT(V, dr3_addr_mask, 0x1B8);
  AT(V, rsp, 0x1D8);
  AT(V, s_cet, 0x1E0);
  AT(V, ssp, 0x1E8);
  AT(V, isst_addr, 0x1F0);
  AT(V, rax, 0x1F8);
  AT(V, star, 0x200);
  AT(V, lstar, 0x208);
  AT(V, cstar, 0x210);
  AT(V, sfmask, 0x218);
  AT(V, kernel_gs_base, 0x220);
  AT(V, sysenter_cs, 0x228);
  AT(V, sysenter_esp, 0x230);
  AT(V, sysenter_eip, 0x238);
  AT(V, cr2, 0x240);
  AT(V, g_pat, 0x268);
  AT(V, dbgctl, 0x270);
  AT(V, br_from, 0x278);
  AT(V, br_to, 0x280);
  AT(V, last_excp_from, 0x288);
  AT(V, last_excp_to, 0x290);
  AT(V, pkru, 0x2E8);
  AT(V, tsc_aux, 0x2EC);
  AT(V, tsc_scale, 0x2F0);
  AT(V, tsc_offset, 0x2F8);
  AT(V, rcx, 0x308);
  AT(V, rdx, 0x310);
  AT(V, rbx, 0x318);
  AT(V, rbp, 0x328);
  AT(V, rsi, 0x330);
  AT(V, rdi, 0x338);
  AT(V, r8, 0x340);
  AT(V, r9, 0x348);
  AT(V, r10, 0x350);
  AT(V, r11, 0x358);
  AT(V, r12, 0x360);
  AT(V, r13, 0x368);
  AT(V, r14, 0x370);
  AT(V, r15, 0x378);
  AT(V, guest_exit_info_1, 0x390);
  AT(V, guest_exit_info_2, 0x398);
  AT(V, guest_exit_int_info, 0x3A0);
  AT(V, guest_nrip, 0x3A8);
  AT(V, sev_features, 0x3B0);
  AT(V, vintr_ctrl, 0x3B8);
  AT(V, guest_exit_code, 0x3C0);
  AT(V, virtual_tom, 0x3C8);
  AT(V, tlb_id, 0x3D0);
  AT(V, pcpu_id, 0x3D8);
  AT(V, event_inj, 0x3E0);
  AT(V, xcr0, 0x3E8);
  AT(V, x87_dp, 0x400);
  AT(V, mxcsr, 0x408);
  AT(V, x87_ftw, 0x40C);
  AT(V, x87_fsw, 0x40E);
  AT(V, x87_fcw, 0x410);
  AT(V, x87_fop, 0x412);
  AT(V, x87_ds, 0x414);
  AT(V, x87_cs, 0x416);
  AT(V, x87_rip, 0x418);
  AT(V, fpreg_x87, 0x420);
  AT(V, fpreg_xmm, 0x470);
  AT(V, fpreg_ymm, 0x570);
}

// The VMSA register offsets equal the GHCB save-area offsets (PLATFORM-FACTS 2.1).
TEST(Layout, VmsaMatchesGhcbOffsets) {
  EXPECT_EQ(offsetof(SevEsSaveArea, cpl), 0x0CBu);
  EXPECT_EQ(offsetof(SevEsSaveArea, xss), 0x140u);
  EXPECT_EQ(offsetof(SevEsSaveArea, rax), 0x1F8u);
  EXPECT_EQ(offsetof(SevEsSaveArea, rcx), 0x308u);
  EXPECT_EQ(offsetof(SevEsSaveArea, xcr0), 0x3E8u);
}

// Intercept bits land in the right word and bit of the VMCB image (PLATFORM-FACTS 5.1).
TEST(Layout, InterceptBitsInImage) {
  struct Row {
    Intercept i;
    size_t byte;
    unsigned bit;
    const char* name;
  };
  const Row rows[] = {
      {cr_read_intercept(0), 0x00, 0, "CR0 read"},
      {cr_write_intercept(3), 0x02, 3, "CR3 write"},
      {dr_read_intercept(7), 0x04, 7, "DR7 read"},
      {dr_write_intercept(7), 0x06, 7, "DR7 write"},
      {exception_intercept(14), 0x09, 6, "#PF"},
      {Intercept::kIntr, 0x0C, 0, "INTR"},
      {Intercept::kCpuid, 0x0E, 2, "CPUID (word 3 bit 18)"},
      {Intercept::kHlt, 0x0F, 0, "HLT (word 3 bit 24)"},
      {Intercept::kIoioProt, 0x0F, 3, "IOIO_PROT (word 3 bit 27)"},
      {Intercept::kMsrProt, 0x0F, 4, "MSR_PROT (word 3 bit 28)"},
      {Intercept::kShutdown, 0x0F, 7, "SHUTDOWN (word 3 bit 31)"},
      {Intercept::kVmrun, 0x10, 0, "VMRUN"},
      {Intercept::kVmmcall, 0x10, 1, "VMMCALL"},
      {Intercept::kXsetbv, 0x11, 5, "XSETBV (word 4 bit 13)"},
      {Intercept::kTrapEferWrite, 0x11, 7, "EFER write trap (word 4 bit 15)"},
      {cr_write_trap_intercept(8), 0x13, 0, "CR8 write trap (word 4 bit 24)"},
      {Intercept::kInvlpgb, 0x14, 0, "INVLPGB"},
      {Intercept::kIdleHlt, 0x14, 6, "idle HLT (word 5 bit 6)"},
  };
  for (const Row& r : rows) {
    VmcbControlArea c;
    set_intercept(c, r.i);
    std::array<uint8_t, sizeof c> image{};
    std::memcpy(image.data(), &c, sizeof c);
    for (size_t b = 0; b < 0x18; ++b) {
      const uint8_t want = b == r.byte ? static_cast<uint8_t>(1u << r.bit) : 0;
      EXPECT_EQ(image[b], want) << r.name << ": byte " << hex(b);
    }
    EXPECT_TRUE(is_intercept_set(c, r.i)) << r.name;
    set_intercept(c, r.i, false);
    EXPECT_FALSE(is_intercept_set(c, r.i)) << r.name << " after clearing";
  }
}

// APM vol 2 appendix C: the exit code of an intercept equals its bit number in the six words
// (CR/DR/exception words map to 0x00-0x5F, word 3 to 0x60-0x7F, word 4 to 0x80-0x9F, word 5 to
// 0xA0-0xBF). The core relies on this to name the exit of a fired intercept.
TEST(Layout, InterceptBitIsItsExitCode) {
  EXPECT_EQ(exit_code_of(Intercept::kCpuid), ExitCode::kCpuid);
  EXPECT_EQ(exit_code_of(Intercept::kIoioProt), ExitCode::kIoio);
  EXPECT_EQ(exit_code_of(Intercept::kMsrProt), ExitCode::kMsr);
  EXPECT_EQ(exit_code_of(Intercept::kShutdown), ExitCode::kShutdown);
  EXPECT_EQ(exit_code_of(Intercept::kSelectiveCr0), ExitCode::kCr0SelWrite);
  EXPECT_EQ(exit_code_of(Intercept::kIntn), ExitCode::kSwint);
  EXPECT_EQ(exit_code_of(Intercept::kVmrun), ExitCode::kVmrun);
  EXPECT_EQ(exit_code_of(Intercept::kXsetbv), ExitCode::kXsetbv);
  EXPECT_EQ(exit_code_of(Intercept::kTrapEferWrite), ExitCode::kEferWriteTrap);
  EXPECT_EQ(exit_code_of(cr_write_trap_intercept(8)), ExitCode::kCr8WriteTrap);
  EXPECT_EQ(exit_code_of(Intercept::kInvpcid), ExitCode::kInvpcid);
  EXPECT_EQ(exit_code_of(Intercept::kBuslock), ExitCode::kBusLock);
  EXPECT_EQ(exit_code_of(Intercept::kIdleHlt), ExitCode::kIdleHlt);
  EXPECT_EQ(exit_code_of(cr_read_intercept(3)), ExitCode::kReadCr3);
  EXPECT_EQ(exit_code_of(cr_write_intercept(8)), ExitCode::kWriteCr8);
  EXPECT_EQ(exit_code_of(dr_write_intercept(7)), ExitCode::kWriteDr7);
  EXPECT_EQ(exit_code_of(exception_intercept(14)), exit_exception(14));
}

// Field bit positions that the checks and the core rely on.
TEST(Layout, ControlBitValues) {
  EXPECT_EQ(int_ctl::kVIrq, 0x100u);
  EXPECT_EQ(int_ctl::kVIntrPrioMask, 0xF0000u);
  EXPECT_EQ(int_ctl::kVIgnTpr, 0x100000u);
  EXPECT_EQ(int_ctl::kVIntrMasking, 0x1000000u);
  EXPECT_EQ(int_ctl::kVGif, 0x200u);
  EXPECT_EQ(nested_ctl::kNpEnable | nested_ctl::kSevEnable | nested_ctl::kSevEsEnable, 7u);
  EXPECT_EQ(clean::kAvic, 0x800u);
  EXPECT_EQ(clean::kAllDefined, 0xFFFu);
  // PLATFORM-FACTS 0: SEV_STATUS bit n+2 = SEV_FEATURES bit n; bits 0, 1 = SEV, SEV-ES.
  EXPECT_EQ(sev_status_from_features(sev_features::kSnpActive), 0x7u);
  EXPECT_EQ(sev_status_from_features(sev_features::kDebugSwap | sev_features::kSnpActive), 0x87u);
}

}  // namespace
}  // namespace snpemu::svm
