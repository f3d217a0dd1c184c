// cpu/svm/vmsa.h: the SEV-ES / SEV-SNP VM save area (VMSA), `sev_es_save_area`: 1648 bytes at the
// start of its own 4 KiB page, pointed to by VMCB vmsa_pa (0x108), and the SEV_FEATURES bits.
//
// Pure layout table; every offset is static_assert'ed. Sources: Linux arch/x86/include/asm/svm.h
// (`struct sev_es_save_area`, SVM_SEV_FEAT_*), PLATFORM-FACTS 5.3 and 5.4. The same layout is
// used by the VMCB save area of an SEV-ES host (host state) and its register offsets match the
// GHCB save area (PLATFORM-FACTS 2.1). Included by cpu/svm/svm.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cpu/svm/vmcb.h"

namespace snpemu::svm {

/// SEV-ES save area (VMSA). Reserved fields are named by their offset, as Linux names them.
struct SevEsSaveArea {
  VmcbSeg es;                                // 0x000
  VmcbSeg cs;                                // 0x010
  VmcbSeg ss;                                // 0x020
  VmcbSeg ds;                                // 0x030
  VmcbSeg fs;                                // 0x040
  VmcbSeg gs;                                // 0x050
  VmcbSeg gdtr;                              // 0x060
  VmcbSeg ldtr;                              // 0x070
  VmcbSeg idtr;                              // 0x080
  VmcbSeg tr;                                // 0x090
  uint64_t pl0_ssp = 0;                      // 0x0A0
  uint64_t pl1_ssp = 0;                      // 0x0A8
  uint64_t pl2_ssp = 0;                      // 0x0B0
  uint64_t pl3_ssp = 0;                      // 0x0B8
  uint64_t u_cet = 0;                        // 0x0C0
  std::array<uint8_t, 2> reserved_0xc8{};    // 0x0C8
  uint8_t vmpl = 0;                          // 0x0CA
  uint8_t cpl = 0;                           // 0x0CB
  std::array<uint8_t, 4> reserved_0xcc{};    // 0x0CC
  uint64_t efer = 0;                         // 0x0D0
  std::array<uint8_t, 104> reserved_0xd8{};  // 0x0D8
  uint64_t xss = 0;                          // 0x140
  uint64_t cr4 = 0;                          // 0x148
  uint64_t cr3 = 0;                          // 0x150
  uint64_t cr0 = 0;                          // 0x158
  uint64_t dr7 = 0;                          // 0x160
  uint64_t dr6 = 0;                          // 0x168
  uint64_t rflags = 0;                       // 0x170
  uint64_t rip = 0;                          // 0x178
  uint64_t dr0 = 0;                          // 0x180
  uint64_t dr1 = 0;                          // 0x188
  uint64_t dr2 = 0;                          // 0x190
  uint64_t dr3 = 0;                          // 0x198
  uint64_t dr0_addr_mask = 0;                // 0x1A0
  uint64_t dr1_addr_mask = 0;                // 0x1A8
  uint64_t dr2_addr_mask = 0;                // 0x1B0
  uint64_t dr3_addr_mask = 0;                // 0x1B8
  std::array<uint8_t, 24> reserved_0x1c0{};  // 0x1C0
  uint64_t rsp = 0;                          // 0x1D8
  uint64_t s_cet = 0;                        // 0x1E0
  uint64_t ssp = 0;                          // 0x1E8
  uint64_t isst_addr = 0;                    // 0x1F0
  uint64_t rax = 0;                          // 0x1F8
  uint64_t star = 0;                         // 0x200
  uint64_t lstar = 0;                        // 0x208
  uint64_t cstar = 0;                        // 0x210
  uint64_t sfmask = 0;                       // 0x218
  uint64_t kernel_gs_base = 0;               // 0x220
  uint64_t sysenter_cs = 0;                  // 0x228
  uint64_t sysenter_esp = 0;                 // 0x230
  uint64_t sysenter_eip = 0;                 // 0x238
  uint64_t cr2 = 0;                          // 0x240
  std::array<uint8_t, 32> reserved_0x248{};  // 0x248
  uint64_t g_pat = 0;                        // 0x268
  uint64_t dbgctl = 0;                       // 0x270
  uint64_t br_from = 0;                      // 0x278
  uint64_t br_to = 0;                        // 0x280
  uint64_t last_excp_from = 0;               // 0x288
  uint64_t last_excp_to = 0;                 // 0x290
  std::array<uint8_t, 80> reserved_0x298{};  // 0x298
  uint32_t pkru = 0;                         // 0x2E8
  uint32_t tsc_aux = 0;                      // 0x2EC
  uint64_t tsc_scale = 0;                    // 0x2F0
  uint64_t tsc_offset = 0;                   // 0x2F8
  std::array<uint8_t, 8> reserved_0x300{};   // 0x300
  uint64_t rcx = 0;                          // 0x308
  uint64_t rdx = 0;                          // 0x310
  uint64_t rbx = 0;                          // 0x318
  uint64_t reserved_0x320 = 0;               // 0x320 (RSP lives at 0x1D8)
  uint64_t rbp = 0;                          // 0x328
  uint64_t rsi = 0;                          // 0x330
  uint64_t rdi = 0;                          // 0x338
  uint64_t r8 = 0;                           // 0x340
  uint64_t r9 = 0;                           // 0x348
  uint64_t r10 = 0;                          // 0x350
  uint64_t r11 = 0;                          // 0x358
  uint64_t r12 = 0;                          // 0x360
  uint64_t r13 = 0;                          // 0x368
  uint64_t r14 = 0;                          // 0x370
  uint64_t r15 = 0;                          // 0x378
  std::array<uint8_t, 16> reserved_0x380{};  // 0x380
  uint64_t guest_exit_info_1 = 0;            // 0x390
  uint64_t guest_exit_info_2 = 0;            // 0x398
  uint64_t guest_exit_int_info = 0;          // 0x3A0
  uint64_t guest_nrip = 0;                   // 0x3A8
  uint64_t sev_features = 0;                 // 0x3B0 (see sev_features namespace)
  uint64_t vintr_ctrl = 0;                   // 0x3B8
  uint64_t guest_exit_code = 0;              // 0x3C0
  uint64_t virtual_tom = 0;                  // 0x3C8
  uint64_t tlb_id = 0;                       // 0x3D0
  uint64_t pcpu_id = 0;                      // 0x3D8
  uint64_t event_inj = 0;                    // 0x3E0 (64-bit EVENTINJ: error code in [63:32])
  uint64_t xcr0 = 0;                         // 0x3E8
  std::array<uint8_t, 16> reserved_0x3f0{};  // 0x3F0
  // Floating-point area.
  uint64_t x87_dp = 0;                   // 0x400
  uint32_t mxcsr = 0;                    // 0x408
  uint16_t x87_ftw = 0;                  // 0x40C
  uint16_t x87_fsw = 0;                  // 0x40E
  uint16_t x87_fcw = 0;                  // 0x410
  uint16_t x87_fop = 0;                  // 0x412
  uint16_t x87_ds = 0;                   // 0x414
  uint16_t x87_cs = 0;                   // 0x416
  uint64_t x87_rip = 0;                  // 0x418
  std::array<uint8_t, 80> fpreg_x87{};   // 0x420: 8 x 8-byte mantissas, then 8 x 2-byte exponents
  std::array<uint8_t, 256> fpreg_xmm{};  // 0x470
  std::array<uint8_t, 256> fpreg_ymm{};  // 0x570 (upper halves)
};

inline constexpr size_t kSevEsSaveAreaSize = 1648;  // EXPECTED_SEV_ES_SAVE_AREA_SIZE
inline constexpr size_t kVmsaPageSize = 4096;

/// SEV_FEATURES (VMSA 0x3B0) bits; bit n mirrors SEV_STATUS bit n + 2 (PLATFORM-FACTS 0, 5.4).
namespace sev_features {
inline constexpr uint64_t kSnpActive = 1u << 0;            // [L] SVM_SEV_FEAT_SNP_ACTIVE
inline constexpr uint64_t kVtom = 1u << 1;                 // [3P]
inline constexpr uint64_t kReflectVc = 1u << 2;            // [3P]
inline constexpr uint64_t kRestrictedInjection = 1u << 3;  // [L]
inline constexpr uint64_t kAlternateInjection = 1u << 4;   // [L]
inline constexpr uint64_t kDebugSwap = 1u << 5;            // [L]
inline constexpr uint64_t kPreventHostIbs = 1u << 6;       // derived from SEV_STATUS bit 8
inline constexpr uint64_t kBtbIsolation = 1u << 7;         // derived (bit 9)
inline constexpr uint64_t kVmplSss = 1u << 8;              // derived (bit 10)
inline constexpr uint64_t kSecureTsc = 1u << 9;            // [L]
inline constexpr uint64_t kVmgexitParameter = 1u << 10;    // derived (bit 12)
inline constexpr uint64_t kIbsVirtualization = 1u << 12;   // derived (bit 14)
inline constexpr uint64_t kVmsaRegProtection = 1u << 14;   // derived (bit 16)
inline constexpr uint64_t kSmtProtection = 1u << 15;       // derived (bit 17)
inline constexpr uint64_t kSecureAvic = 1u << 16;          // derived (bit 18)
}  // namespace sev_features

/// SEV_STATUS MSR value implied by a VMSA's sev_features (SEV + SEV-ES enabled, bits 0 and 1,
/// plus sev_features << 2). PLATFORM-FACTS 0 [L] guest sev.c `wakeup_cpu_via_vmgexit`.
constexpr uint64_t sev_status_from_features(uint64_t features) { return 0x3u | (features << 2); }

// ---- layout proofs (Linux asm/svm.h BUILD_BUG_RESERVED_OFFSET(sev_es_save_area, ...)) ----
static_assert(std::is_standard_layout_v<SevEsSaveArea>);
static_assert(std::is_trivially_copyable_v<SevEsSaveArea>);
static_assert(sizeof(SevEsSaveArea) == kSevEsSaveAreaSize);
static_assert(offsetof(SevEsSaveArea, es) == 0x000 && offsetof(SevEsSaveArea, tr) == 0x090);
static_assert(offsetof(SevEsSaveArea, cs) == 0x010 && offsetof(SevEsSaveArea, idtr) == 0x080);
static_assert(offsetof(SevEsSaveArea, pl0_ssp) == 0x0A0);
static_assert(offsetof(SevEsSaveArea, pl1_ssp) == 0x0A8);
static_assert(offsetof(SevEsSaveArea, pl2_ssp) == 0x0B0);
static_assert(offsetof(SevEsSaveArea, pl3_ssp) == 0x0B8);
static_assert(offsetof(SevEsSaveArea, u_cet) == 0x0C0);
static_assert(offsetof(SevEsSaveArea, reserved_0xc8) == 0x0C8);
static_assert(offsetof(SevEsSaveArea, vmpl) == 0x0CA);
static_assert(offsetof(SevEsSaveArea, cpl) == 0x0CB);
static_assert(offsetof(SevEsSaveArea, reserved_0xcc) == 0x0CC);
static_assert(offsetof(SevEsSaveArea, efer) == 0x0D0);
static_assert(offsetof(SevEsSaveArea, reserved_0xd8) == 0x0D8);
static_assert(offsetof(SevEsSaveArea, xss) == 0x140);
static_assert(offsetof(SevEsSaveArea, cr4) == 0x148);
static_assert(offsetof(SevEsSaveArea, cr3) == 0x150);
static_assert(offsetof(SevEsSaveArea, cr0) == 0x158);
static_assert(offsetof(SevEsSaveArea, dr7) == 0x160);
static_assert(offsetof(SevEsSaveArea, dr6) == 0x168);
static_assert(offsetof(SevEsSaveArea, rflags) == 0x170);
static_assert(offsetof(SevEsSaveArea, rip) == 0x178);
static_assert(offsetof(SevEsSaveArea, dr0) == 0x180);
static_assert(offsetof(SevEsSaveArea, dr3) == 0x198);
static_assert(offsetof(SevEsSaveArea, dr0_addr_mask) == 0x1A0);
static_assert(offsetof(SevEsSaveArea, dr3_addr_mask) == 0x1B8);
static_assert(offsetof(SevEsSaveArea, reserved_0x1c0) == 0x1C0);
static_assert(offsetof(SevEsSaveArea, rsp) == 0x1D8);
static_assert(offsetof(SevEsSaveArea, s_cet) == 0x1E0);
static_assert(offsetof(SevEsSaveArea, ssp) == 0x1E8);
static_assert(offsetof(SevEsSaveArea, isst_addr) == 0x1F0);
static_assert(offsetof(SevEsSaveArea, rax) == 0x1F8);
static_assert(offsetof(SevEsSaveArea, star) == 0x200);
static_assert(offsetof(SevEsSaveArea, lstar) == 0x208);
static_assert(offsetof(SevEsSaveArea, cstar) == 0x210);
static_assert(offsetof(SevEsSaveArea, sfmask) == 0x218);
static_assert(offsetof(SevEsSaveArea, kernel_gs_base) == 0x220);
static_assert(offsetof(SevEsSaveArea, sysenter_cs) == 0x228);
static_assert(offsetof(SevEsSaveArea, sysenter_esp) == 0x230);
static_assert(offsetof(SevEsSaveArea, sysenter_eip) == 0x238);
static_assert(offsetof(SevEsSaveArea, cr2) == 0x240);
static_assert(offsetof(SevEsSaveArea, reserved_0x248) == 0x248);
static_assert(offsetof(SevEsSaveArea, g_pat) == 0x268);
static_assert(offsetof(SevEsSaveArea, dbgctl) == 0x270);
static_assert(offsetof(SevEsSaveArea, br_from) == 0x278);
static_assert(offsetof(SevEsSaveArea, br_to) == 0x280);
static_assert(offsetof(SevEsSaveArea, last_excp_from) == 0x288);
static_assert(offsetof(SevEsSaveArea, last_excp_to) == 0x290);
static_assert(offsetof(SevEsSaveArea, reserved_0x298) == 0x298);
static_assert(offsetof(SevEsSaveArea, pkru) == 0x2E8);
static_assert(offsetof(SevEsSaveArea, tsc_aux) == 0x2EC);
static_assert(offsetof(SevEsSaveArea, tsc_scale) == 0x2F0);
static_assert(offsetof(SevEsSaveArea, tsc_offset) == 0x2F8);
static_assert(offsetof(SevEsSaveArea, reserved_0x300) == 0x300);
static_assert(offsetof(SevEsSaveArea, rcx) == 0x308);
static_assert(offsetof(SevEsSaveArea, rdx) == 0x310);
static_assert(offsetof(SevEsSaveArea, rbx) == 0x318);
static_assert(offsetof(SevEsSaveArea, reserved_0x320) == 0x320);
static_assert(offsetof(SevEsSaveArea, rbp) == 0x328);
static_assert(offsetof(SevEsSaveArea, rsi) == 0x330);
static_assert(offsetof(SevEsSaveArea, rdi) == 0x338);
static_assert(offsetof(SevEsSaveArea, r8) == 0x340);
static_assert(offsetof(SevEsSaveArea, r15) == 0x378);
static_assert(offsetof(SevEsSaveArea, reserved_0x380) == 0x380);
static_assert(offsetof(SevEsSaveArea, guest_exit_info_1) == 0x390);
static_assert(offsetof(SevEsSaveArea, guest_exit_info_2) == 0x398);
static_assert(offsetof(SevEsSaveArea, guest_exit_int_info) == 0x3A0);
static_assert(offsetof(SevEsSaveArea, guest_nrip) == 0x3A8);
static_assert(offsetof(SevEsSaveArea, sev_features) == 0x3B0);
static_assert(offsetof(SevEsSaveArea, vintr_ctrl) == 0x3B8);
static_assert(offsetof(SevEsSaveArea, guest_exit_code) == 0x3C0);
static_assert(offsetof(SevEsSaveArea, virtual_tom) == 0x3C8);
static_assert(offsetof(SevEsSaveArea, tlb_id) == 0x3D0);
static_assert(offsetof(SevEsSaveArea, pcpu_id) == 0x3D8);
static_assert(offsetof(SevEsSaveArea, event_inj) == 0x3E0);
static_assert(offsetof(SevEsSaveArea, xcr0) == 0x3E8);
static_assert(offsetof(SevEsSaveArea, reserved_0x3f0) == 0x3F0);
static_assert(offsetof(SevEsSaveArea, x87_dp) == 0x400);
static_assert(offsetof(SevEsSaveArea, mxcsr) == 0x408);
static_assert(offsetof(SevEsSaveArea, x87_ftw) == 0x40C);
static_assert(offsetof(SevEsSaveArea, x87_fsw) == 0x40E);
static_assert(offsetof(SevEsSaveArea, x87_fcw) == 0x410);
static_assert(offsetof(SevEsSaveArea, x87_fop) == 0x412);
static_assert(offsetof(SevEsSaveArea, x87_ds) == 0x414);
static_assert(offsetof(SevEsSaveArea, x87_cs) == 0x416);
static_assert(offsetof(SevEsSaveArea, x87_rip) == 0x418);
static_assert(offsetof(SevEsSaveArea, fpreg_x87) == 0x420);
static_assert(offsetof(SevEsSaveArea, fpreg_xmm) == 0x470);
static_assert(offsetof(SevEsSaveArea, fpreg_ymm) == 0x570);

}  // namespace snpemu::svm
