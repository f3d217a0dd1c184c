// cpu/svm/vmcb.h: the VMCB (one 4 KiB page): control area (0x000-0x3FF) and the state save area
// for non-ES guests (0x400-0x6E7), plus the bit definitions of the control-area fields.
//
// Pure layout table: every field carries its spec name verbatim and every offset is
// static_assert'ed below. Sources: APM vol 2 appendix B (VMCB layout), Linux
// arch/x86/include/asm/svm.h (`struct vmcb_control_area`, `struct vmcb_save_area`),
// PLATFORM-FACTS 5.1 and 5.3. Included by cpu/svm/svm.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace snpemu::svm {

// ================================ segments ======================================================

/// VMCB segment register image: 16 bytes. Linux asm/svm.h `struct vmcb_seg`.
struct VmcbSeg {
  uint16_t selector = 0;
  uint16_t attrib = 0;  // compressed descriptor attributes, see seg_attrib
  uint32_t limit = 0;
  uint64_t base = 0;
};

/// VMCB `attrib` bits: the descriptor's bits 8-15 and 20-23 packed into 12 bits.
/// Linux asm/svm.h SVM_SELECTOR_*; PLATFORM-FACTS 5.1.
namespace seg_attrib {
inline constexpr uint16_t kTypeMask = 0xF;
inline constexpr uint16_t kS = 1 << 4;
inline constexpr uint16_t kDplShift = 5;
inline constexpr uint16_t kDplMask = 3 << kDplShift;
inline constexpr uint16_t kP = 1 << 7;
inline constexpr uint16_t kAvl = 1 << 8;
inline constexpr uint16_t kL = 1 << 9;
inline constexpr uint16_t kDb = 1 << 10;
inline constexpr uint16_t kG = 1 << 11;
}  // namespace seg_attrib

// ================================ intercepts ====================================================

/// The six 32-bit intercept words at VMCB 0x000 (Linux asm/svm.h `enum intercept_words`).
enum class InterceptWord : uint8_t { kCr = 0, kDr, kException, kWord3, kWord4, kWord5 };
inline constexpr size_t kInterceptWords = 6;

/// One intercept bit, numbered word * 32 + bit as Linux's INTERCEPT_* enum does.
/// APM vol 2 15.9-15.13 and appendix B; PLATFORM-FACTS 5.1 (word bit orders).
enum class Intercept : uint16_t {
  // word 0 (0x000): CR reads bits 0-15, CR writes bits 16-31 (see cr_read_intercept()).
  kCr0Read = 0,
  kCr3Read = 3,
  kCr4Read = 4,
  kCr8Read = 8,
  kCr0Write = 16,
  kCr3Write = 16 + 3,
  kCr4Write = 16 + 4,
  kCr8Write = 16 + 8,
  // word 1 (0x004): DR reads 32-47, DR writes 48-63 (see dr_read_intercept()).
  kDr0Read = 32,
  kDr7Read = 32 + 7,
  kDr0Write = 48,
  kDr7Write = 48 + 7,
  // word 2 (0x008): exception bitmap, bit = vector (see exception_intercept()).
  kExceptionBase = 64,
  // word 3 (0x00C)
  kIntr = 96,
  kNmi,
  kSmi,
  kInit,
  kVintr,
  kSelectiveCr0,
  kStoreIdtr,  // IDTR read (SIDT)
  kStoreGdtr,
  kStoreLdtr,
  kStoreTr,
  kLoadIdtr,  // IDTR write (LIDT)
  kLoadGdtr,
  kLoadLdtr,
  kLoadTr,
  kRdtsc,
  kRdpmc,
  kPushf,
  kPopf,
  kCpuid,
  kRsm,
  kIret,
  kIntn,
  kInvd,
  kPause,
  kHlt,
  kInvlpg,
  kInvlpga,
  kIoioProt,
  kMsrProt,
  kTaskSwitch,
  kFerrFreeze,
  kShutdown,  // = 127
  // word 4 (0x010)
  kVmrun = 128,
  kVmmcall,
  kVmload,
  kVmsave,
  kStgi,
  kClgi,
  kSkinit,
  kRdtscp,
  kIcebp,
  kWbinvd,
  kMonitor,
  kMwait,
  kMwaitCond,
  kXsetbv,
  kRdpru,
  kTrapEferWrite,
  kTrapCr0Write,  // CRn write traps: 144 + n, n = 0..8
  kTrapCr8Write = kTrapCr0Write + 8,
  // word 5 (0x014)
  kInvlpgb = 160,
  kInvlpgbIllegal,
  kInvpcid,
  kMcommit,
  kTlbsync,
  kBuslock,
  kIdleHlt,  // = 166
};

constexpr Intercept cr_read_intercept(unsigned cr) { return Intercept(cr & 15); }
constexpr Intercept cr_write_intercept(unsigned cr) { return Intercept(16 + (cr & 15)); }
constexpr Intercept dr_read_intercept(unsigned dr) { return Intercept(32 + (dr & 15)); }
constexpr Intercept dr_write_intercept(unsigned dr) { return Intercept(48 + (dr & 15)); }
constexpr Intercept exception_intercept(unsigned vector) { return Intercept(64 + (vector & 31)); }
constexpr Intercept cr_write_trap_intercept(unsigned cr) { return Intercept(144 + (cr & 15)); }

// ================================ control-area bit fields =======================================

/// int_ctl (0x060) bits. Linux asm/svm.h V_*_MASK; PLATFORM-FACTS 5.1.
namespace int_ctl {
inline constexpr uint32_t kVTprMask = 0xF;  // V_TPR [3:0]
inline constexpr uint32_t kVIrq = 1u << 8;  // V_IRQ
inline constexpr uint32_t kVGif = 1u << 9;  // V_GIF
inline constexpr uint32_t kVNmiPending = 1u << 11;
inline constexpr uint32_t kVNmiBlocking = 1u << 12;
inline constexpr uint32_t kVIntrPrioShift = 16;  // V_INTR_PRIO [19:16]
inline constexpr uint32_t kVIntrPrioMask = 0xFu << kVIntrPrioShift;
inline constexpr uint32_t kVIgnTpr = 1u << 20;       // V_IGN_TPR
inline constexpr uint32_t kVIntrMasking = 1u << 24;  // V_INTR_MASKING
inline constexpr uint32_t kVGifEnable = 1u << 25;
inline constexpr uint32_t kVNmiEnable = 1u << 26;
inline constexpr uint32_t kX2apicMode = 1u << 30;
inline constexpr uint32_t kAvicEnable = 1u << 31;
}  // namespace int_ctl

/// int_state (0x068) bits. Linux asm/svm.h SVM_INTERRUPT_SHADOW_MASK / SVM_GUEST_INTERRUPT_MASK.
namespace int_state {
inline constexpr uint32_t kInterruptShadow = 1u << 0;
inline constexpr uint32_t kGuestInterruptMask = 1u << 1;
}  // namespace int_state

/// nested_ctl (0x090; newest Linux calls it misc_ctl). Linux asm/svm.h SVM_MISC_ENABLE_*.
namespace nested_ctl {
inline constexpr uint64_t kNpEnable = 1u << 0;     // NP_ENABLE
inline constexpr uint64_t kSevEnable = 1u << 1;    // SEV_ENABLE
inline constexpr uint64_t kSevEsEnable = 1u << 2;  // SEV_ES_ENABLE
}  // namespace nested_ctl

/// virt_ext (0x0B8; newest Linux: misc_ctl2). Linux asm/svm.h SVM_MISC2_ENABLE_*.
namespace virt_ext {
inline constexpr uint64_t kLbrVirtualization = 1u << 0;
inline constexpr uint64_t kVirtualVmloadVmsave = 1u << 1;
}  // namespace virt_ext

/// VMCB clean bits (0x0C0): a set bit lets the CPU keep its cached copy of that field group.
/// Linux kvm/svm/svm.h `enum { VMCB_INTERCEPTS, ... }`; PLATFORM-FACTS 5.1.
namespace clean {
inline constexpr uint32_t kIntercepts = 1u << 0;  // intercepts, TSC offset, pause filter
inline constexpr uint32_t kPerm = 1u << 1;        // IOPM / MSRPM base
inline constexpr uint32_t kAsid = 1u << 2;
inline constexpr uint32_t kIntr = 1u << 3;  // int_ctl, int_vector
inline constexpr uint32_t kNpt = 1u << 4;   // NP enable, nested_cr3, g_pat
inline constexpr uint32_t kCr = 1u << 5;    // CR0, CR3, CR4, EFER
inline constexpr uint32_t kDr = 1u << 6;    // DR6, DR7
inline constexpr uint32_t kDt = 1u << 7;    // GDT, IDT
inline constexpr uint32_t kSeg = 1u << 8;   // segments, CPL
inline constexpr uint32_t kCr2 = 1u << 9;
inline constexpr uint32_t kLbr = 1u << 10;
inline constexpr uint32_t kAvic = 1u << 11;
inline constexpr uint32_t kSw = 1u << 31;  // reserved for software
inline constexpr uint32_t kAllDefined = (1u << 12) - 1;
}  // namespace clean

/// allowed_sev_features (0x138) valid bit. Linux asm/svm.h VMCB_ALLOWED_SEV_FEATURES_VALID.
inline constexpr uint64_t kAllowedSevFeaturesValid = uint64_t{1} << 63;

// ================================ control area ==================================================

/// VMCB control area, 1024 bytes at VMCB+0x000. Linux asm/svm.h `struct vmcb_control_area`.
struct VmcbControlArea {
  std::array<uint32_t, kInterceptWords> intercepts{};  // 0x000
  std::array<uint32_t, 9> reserved_1{};                // 0x018
  uint16_t pause_filter_thresh = 0;                    // 0x03C
  uint16_t pause_filter_count = 0;                     // 0x03E
  uint64_t iopm_base_pa = 0;                           // 0x040
  uint64_t msrpm_base_pa = 0;                          // 0x048
  uint64_t tsc_offset = 0;                             // 0x050
  uint32_t asid = 0;                                   // 0x058
  uint8_t tlb_ctl = 0;                                 // 0x05C
  uint8_t erap_ctl = 0;                                // 0x05D
  std::array<uint8_t, 2> reserved_2{};                 // 0x05E
  uint32_t int_ctl = 0;                                // 0x060
  uint32_t int_vector = 0;                             // 0x064
  uint32_t int_state = 0;                              // 0x068
  std::array<uint8_t, 4> reserved_3{};                 // 0x06C
  uint64_t exit_code = 0;                              // 0x070
  uint64_t exit_info_1 = 0;                            // 0x078
  uint64_t exit_info_2 = 0;                            // 0x080
  uint32_t exit_int_info = 0;                          // 0x088
  uint32_t exit_int_info_err = 0;                      // 0x08C
  uint64_t nested_ctl = 0;                             // 0x090
  uint64_t avic_vapic_bar = 0;                         // 0x098
  uint64_t ghcb_gpa = 0;                               // 0x0A0
  uint32_t event_inj = 0;                              // 0x0A8
  uint32_t event_inj_err = 0;                          // 0x0AC
  uint64_t nested_cr3 = 0;                             // 0x0B0
  uint64_t virt_ext = 0;                               // 0x0B8
  uint32_t clean = 0;                                  // 0x0C0
  uint32_t reserved_5 = 0;                             // 0x0C4
  uint64_t next_rip = 0;                               // 0x0C8
  uint8_t insn_len = 0;                                // 0x0D0
  std::array<uint8_t, 15> insn_bytes{};                // 0x0D1
  uint64_t avic_backing_page = 0;                      // 0x0E0
  std::array<uint8_t, 8> reserved_6{};                 // 0x0E8
  uint64_t avic_logical_id = 0;                        // 0x0F0
  uint64_t avic_physical_id = 0;                       // 0x0F8
  std::array<uint8_t, 8> reserved_7{};                 // 0x100
  uint64_t vmsa_pa = 0;                                // 0x108 (SEV-ES: host PA, no C-bit)
  std::array<uint8_t, 16> reserved_8{};                // 0x110
  uint16_t bus_lock_counter = 0;                       // 0x120
  std::array<uint8_t, 22> reserved_9{};                // 0x122
  uint64_t allowed_sev_features = 0;                   // 0x138
  uint64_t guest_sev_features = 0;                     // 0x140
  std::array<uint8_t, 664> reserved_10{};              // 0x148
  std::array<uint8_t, 32> reserved_sw{};               // 0x3E0 (software / Hyper-V use)
};

// ================================ save area (non-ES guests) =====================================

/// State save area for plain SVM and SEV (not SEV-ES) guests: 744 bytes at VMCB+0x400.
/// Linux asm/svm.h `struct vmcb_save_area`; PLATFORM-FACTS 5.3. Reserved fields are named by
/// their offset, as Linux names them.
struct VmcbSaveArea {
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
  std::array<uint8_t, 42> reserved_0xa0{};   // 0x0A0
  uint8_t vmpl = 0;                          // 0x0CA
  uint8_t cpl = 0;                           // 0x0CB
  std::array<uint8_t, 4> reserved_0xcc{};    // 0x0CC
  uint64_t efer = 0;                         // 0x0D0
  std::array<uint8_t, 112> reserved_0xd8{};  // 0x0D8
  uint64_t cr4 = 0;                          // 0x148
  uint64_t cr3 = 0;                          // 0x150
  uint64_t cr0 = 0;                          // 0x158
  uint64_t dr7 = 0;                          // 0x160
  uint64_t dr6 = 0;                          // 0x168
  uint64_t rflags = 0;                       // 0x170
  uint64_t rip = 0;                          // 0x178
  std::array<uint8_t, 88> reserved_0x180{};  // 0x180
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
  std::array<uint8_t, 72> reserved_0x298{};  // 0x298
  uint64_t spec_ctrl = 0;                    // 0x2E0
};

/// The whole VMCB page. For an SEV-ES guest the save area at 0x400 holds host state only and
/// the guest's state lives in the VMSA (vmsa.h). Linux asm/svm.h `struct vmcb`.
struct Vmcb {
  VmcbControlArea control;  // 0x000
  VmcbSaveArea save;        // 0x400
  std::array<uint8_t, 4096 - 0x400 - 0x2E8> reserved_tail{};
};

inline constexpr size_t kVmcbSize = 4096;
inline constexpr size_t kVmcbControlAreaSize = 1024;  // EXPECTED_VMCB_CONTROL_AREA_SIZE
inline constexpr size_t kVmcbSaveAreaSize = 744;      // EXPECTED_VMCB_SAVE_AREA_SIZE

// ---- layout proofs (Linux asm/svm.h __unused_size_checks and PLATFORM-FACTS 5.1 / 5.3) ----
static_assert(std::is_standard_layout_v<VmcbSeg> && std::is_trivially_copyable_v<VmcbSeg>);
static_assert(sizeof(VmcbSeg) == 16);
static_assert(offsetof(VmcbSeg, selector) == 0 && offsetof(VmcbSeg, attrib) == 2);
static_assert(offsetof(VmcbSeg, limit) == 4 && offsetof(VmcbSeg, base) == 8);

static_assert(std::is_standard_layout_v<VmcbControlArea>);
static_assert(std::is_trivially_copyable_v<VmcbControlArea>);
static_assert(sizeof(VmcbControlArea) == kVmcbControlAreaSize);
static_assert(offsetof(VmcbControlArea, intercepts) == 0x000);
static_assert(offsetof(VmcbControlArea, reserved_1) == 0x018);
static_assert(offsetof(VmcbControlArea, pause_filter_thresh) == 0x03C);
static_assert(offsetof(VmcbControlArea, pause_filter_count) == 0x03E);
static_assert(offsetof(VmcbControlArea, iopm_base_pa) == 0x040);
static_assert(offsetof(VmcbControlArea, msrpm_base_pa) == 0x048);
static_assert(offsetof(VmcbControlArea, tsc_offset) == 0x050);
static_assert(offsetof(VmcbControlArea, asid) == 0x058);
static_assert(offsetof(VmcbControlArea, tlb_ctl) == 0x05C);
static_assert(offsetof(VmcbControlArea, erap_ctl) == 0x05D);
static_assert(offsetof(VmcbControlArea, int_ctl) == 0x060);
static_assert(offsetof(VmcbControlArea, int_vector) == 0x064);
static_assert(offsetof(VmcbControlArea, int_state) == 0x068);
static_assert(offsetof(VmcbControlArea, exit_code) == 0x070);
static_assert(offsetof(VmcbControlArea, exit_info_1) == 0x078);
static_assert(offsetof(VmcbControlArea, exit_info_2) == 0x080);
static_assert(offsetof(VmcbControlArea, exit_int_info) == 0x088);
static_assert(offsetof(VmcbControlArea, exit_int_info_err) == 0x08C);
static_assert(offsetof(VmcbControlArea, nested_ctl) == 0x090);
static_assert(offsetof(VmcbControlArea, avic_vapic_bar) == 0x098);
static_assert(offsetof(VmcbControlArea, ghcb_gpa) == 0x0A0);
static_assert(offsetof(VmcbControlArea, event_inj) == 0x0A8);
static_assert(offsetof(VmcbControlArea, event_inj_err) == 0x0AC);
static_assert(offsetof(VmcbControlArea, nested_cr3) == 0x0B0);
static_assert(offsetof(VmcbControlArea, virt_ext) == 0x0B8);
static_assert(offsetof(VmcbControlArea, clean) == 0x0C0);
static_assert(offsetof(VmcbControlArea, next_rip) == 0x0C8);
static_assert(offsetof(VmcbControlArea, insn_len) == 0x0D0);
static_assert(offsetof(VmcbControlArea, insn_bytes) == 0x0D1);
static_assert(offsetof(VmcbControlArea, avic_backing_page) == 0x0E0);
static_assert(offsetof(VmcbControlArea, avic_logical_id) == 0x0F0);
static_assert(offsetof(VmcbControlArea, avic_physical_id) == 0x0F8);
static_assert(offsetof(VmcbControlArea, vmsa_pa) == 0x108);
static_assert(offsetof(VmcbControlArea, bus_lock_counter) == 0x120);
static_assert(offsetof(VmcbControlArea, allowed_sev_features) == 0x138);
static_assert(offsetof(VmcbControlArea, guest_sev_features) == 0x140);
static_assert(offsetof(VmcbControlArea, reserved_sw) == 0x3E0);

static_assert(std::is_standard_layout_v<VmcbSaveArea>);
static_assert(std::is_trivially_copyable_v<VmcbSaveArea>);
static_assert(sizeof(VmcbSaveArea) == kVmcbSaveAreaSize);
static_assert(offsetof(VmcbSaveArea, es) == 0x000 && offsetof(VmcbSaveArea, cs) == 0x010);
static_assert(offsetof(VmcbSaveArea, ss) == 0x020 && offsetof(VmcbSaveArea, ds) == 0x030);
static_assert(offsetof(VmcbSaveArea, fs) == 0x040 && offsetof(VmcbSaveArea, gs) == 0x050);
static_assert(offsetof(VmcbSaveArea, gdtr) == 0x060 && offsetof(VmcbSaveArea, ldtr) == 0x070);
static_assert(offsetof(VmcbSaveArea, idtr) == 0x080 && offsetof(VmcbSaveArea, tr) == 0x090);
static_assert(offsetof(VmcbSaveArea, reserved_0xa0) == 0x0A0);
static_assert(offsetof(VmcbSaveArea, vmpl) == 0x0CA);
static_assert(offsetof(VmcbSaveArea, cpl) == 0x0CB);
static_assert(offsetof(VmcbSaveArea, reserved_0xcc) == 0x0CC);
static_assert(offsetof(VmcbSaveArea, efer) == 0x0D0);
static_assert(offsetof(VmcbSaveArea, reserved_0xd8) == 0x0D8);
static_assert(offsetof(VmcbSaveArea, cr4) == 0x148);
static_assert(offsetof(VmcbSaveArea, cr3) == 0x150);
static_assert(offsetof(VmcbSaveArea, cr0) == 0x158);
static_assert(offsetof(VmcbSaveArea, dr7) == 0x160);
static_assert(offsetof(VmcbSaveArea, dr6) == 0x168);
static_assert(offsetof(VmcbSaveArea, rflags) == 0x170);
static_assert(offsetof(VmcbSaveArea, rip) == 0x178);
static_assert(offsetof(VmcbSaveArea, reserved_0x180) == 0x180);
static_assert(offsetof(VmcbSaveArea, rsp) == 0x1D8);
static_assert(offsetof(VmcbSaveArea, s_cet) == 0x1E0);
static_assert(offsetof(VmcbSaveArea, ssp) == 0x1E8);
static_assert(offsetof(VmcbSaveArea, isst_addr) == 0x1F0);
static_assert(offsetof(VmcbSaveArea, rax) == 0x1F8);
static_assert(offsetof(VmcbSaveArea, star) == 0x200);
static_assert(offsetof(VmcbSaveArea, lstar) == 0x208);
static_assert(offsetof(VmcbSaveArea, cstar) == 0x210);
static_assert(offsetof(VmcbSaveArea, sfmask) == 0x218);
static_assert(offsetof(VmcbSaveArea, kernel_gs_base) == 0x220);
static_assert(offsetof(VmcbSaveArea, sysenter_cs) == 0x228);
static_assert(offsetof(VmcbSaveArea, sysenter_esp) == 0x230);
static_assert(offsetof(VmcbSaveArea, sysenter_eip) == 0x238);
static_assert(offsetof(VmcbSaveArea, cr2) == 0x240);
static_assert(offsetof(VmcbSaveArea, reserved_0x248) == 0x248);
static_assert(offsetof(VmcbSaveArea, g_pat) == 0x268);
static_assert(offsetof(VmcbSaveArea, dbgctl) == 0x270);
static_assert(offsetof(VmcbSaveArea, br_from) == 0x278);
static_assert(offsetof(VmcbSaveArea, br_to) == 0x280);
static_assert(offsetof(VmcbSaveArea, last_excp_from) == 0x288);
static_assert(offsetof(VmcbSaveArea, last_excp_to) == 0x290);
static_assert(offsetof(VmcbSaveArea, reserved_0x298) == 0x298);
static_assert(offsetof(VmcbSaveArea, spec_ctrl) == 0x2E0);

static_assert(std::is_standard_layout_v<Vmcb> && std::is_trivially_copyable_v<Vmcb>);
static_assert(sizeof(Vmcb) == kVmcbSize);
static_assert(offsetof(Vmcb, control) == 0x000);
static_assert(offsetof(Vmcb, save) == 0x400);

// ================================ intercept accessors ===========================================

/// True when intercept bit `i` is set in `c.intercepts`.
constexpr bool is_intercept_set(const VmcbControlArea& c, Intercept i) {
  const auto bit = static_cast<unsigned>(i);
  return bit / 32 < kInterceptWords && ((c.intercepts[bit / 32] >> (bit % 32)) & 1u) != 0;
}

/// Sets or clears intercept bit `i` (no-op for a bit outside the six words).
constexpr void set_intercept(VmcbControlArea& c, Intercept i, bool on = true) {
  const auto bit = static_cast<unsigned>(i);
  if (bit / 32 >= kInterceptWords) return;
  const uint32_t mask = 1u << (bit % 32);
  c.intercepts[bit / 32] = on ? (c.intercepts[bit / 32] | mask) : (c.intercepts[bit / 32] & ~mask);
}

}  // namespace snpemu::svm
