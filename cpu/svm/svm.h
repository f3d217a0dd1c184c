// cpu/svm/svm.h: AMD SVM / SEV-ES hardware layouts and the pure rules a core needs for VMRUN and
// #VMEXIT. Nothing here touches memory, a core or a clock: every function maps plain values to
// plain values, so the core (cpu/insn/svm.cc, later) and the hypervisor model can share them and
// tests can pin each rule on its own.
//
// Table of contents (grouped by the file that defines them):
//   vmcb.h          VmcbSeg, VmcbControlArea (1024 B), VmcbSaveArea (744 B), Vmcb (4 KiB);
//                   Intercept bit numbers and accessors; int_ctl, int_state, nested_ctl,
//                   virt_ext and clean-bit constants (all offsets static_assert'ed)
//   vmsa.h          SevEsSaveArea (the VMSA, 1648 B), sev_features bits
//   exit_code.h     ExitCode: every #VMEXIT code (VMEXIT_INVALID = -1, NPF 0x400, VMGEXIT 0x403)
//   exit_code.cc    exit_code_name()
//   event.cc        EVENTINJ / EXITINTINFO codec and the injection legality check
//   vmrun_check.cc  VMRUN consistency checks (APM vol 2 15.5.1) -> which rule failed
//   permission_map.cc  MSR permission map and I/O permission map lookups
//   ioio.cc         IOIO #VMEXIT exit_info_1 codec; exit_info_2 = next RIP
//   sev_es_exit.cc  SEV-ES: automatic exit vs #VC classification of an intercept
//   exit_rules.cc   TLB_CONTROL decoding; which exits write next_rip (NRIPS)
//   exit_info.cc    exit_info_1 of MSR and (decode-assist) CR/DR access intercepts
//
// Sources: AMD APM vol 2 chapter 15; Linux arch/x86/include/asm/svm.h, uapi/asm/svm.h,
// arch/x86/kvm/svm/{svm.c,nested.c,sev.c}; ../shared/spec/PLATFORM-FACTS.md sections 0, 2.3, 5.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>

#include "base/types.h"
#include "cpu/svm/exit_code.h"
#include "cpu/svm/vmcb.h"
#include "cpu/svm/vmsa.h"

namespace snpemu::svm {

// ================================ exit_code.cc ==================================================

/// The exit code an intercept bit produces. APM vol 2 appendix C: the codes are numbered like
/// the intercept bits (CR/DR/exceptions 0x00-0x5F, word 3 0x60-0x7F, word 4 0x80-0x9F, word 5
/// from 0xA0), so the mapping is the bit number itself.
constexpr ExitCode exit_code_of(Intercept i) {
  return static_cast<ExitCode>(static_cast<uint16_t>(i));
}

/// APM-style name of an exit code ("VMEXIT_CPUID", "VMEXIT_CR3_READ", "VMEXIT_EXCP14",
/// "VMEXIT_INVALID"); an empty view for a code no table here defines.
std::string_view exit_code_name(uint64_t exit_code);

// ================================ event.cc ======================================================

/// EVENTINJ / EXITINTINFO TYPE field (bits 10:8). APM vol 2 15.20; Linux SVM_EVTINJ_TYPE_*.
/// Values 1, 5, 6 and 7 are reserved.
enum class EventType : uint8_t { kIntr = 0, kNmi = 2, kException = 3, kSoftInt = 4 };

/// Bit layout shared by event_inj (VMCB 0x0A8), exit_int_info (0x088), the VMSA's 64-bit
/// event_inj and the GHCB's exception request in SW_EXITINFO2. Linux asm/svm.h SVM_EVTINJ_*.
namespace event_bits {
inline constexpr uint32_t kVectorMask = 0xFF;
inline constexpr uint32_t kTypeShift = 8;
inline constexpr uint32_t kTypeMask = 7u << kTypeShift;
inline constexpr uint32_t kErrorCodeValid = 1u << 11;  // EV
inline constexpr uint32_t kValid = 1u << 31;           // V
inline constexpr uint32_t kReserved = ~(kVectorMask | kTypeMask | kErrorCodeValid | kValid);
}  // namespace event_bits

/// A decoded event. `type` keeps the raw 3-bit field so reserved values survive a round trip.
struct Event {
  uint8_t vector = 0;
  uint8_t type = 0;  // raw TYPE; compare with EventType
  bool error_code_valid = false;
  bool valid = false;
  uint32_t error_code = 0;
  constexpr bool operator==(const Event&) const = default;
};

/// Builds a valid event of a defined type.
Event make_event(EventType type, uint8_t vector, std::optional<uint32_t> error_code = {});
/// The 32-bit word (event_inj / exit_int_info); reserved bits 30:12 are written as zero.
uint32_t encode_event_word(const Event& e);
/// The 64-bit form: word in [31:0], error code in [63:32] (VMSA event_inj, GHCB SW_EXITINFO2).
uint64_t encode_event64(const Event& e);
/// Decodes a 32-bit word plus its separate error-code word (event_inj + event_inj_err).
Event decode_event(uint32_t word, uint32_t error_code);
/// Decodes the 64-bit form.
Event decode_event64(uint64_t value);

/// Outcome of the VMRUN legality check of event_inj. APM vol 2 15.20 "Event Injection".
enum class EventInjCheck : uint8_t {
  kOk,                // V clear, or a legal event
  kReservedType,      // TYPE 1, 5, 6 or 7
  kNotAnException,    // TYPE = exception with vector 2 (NMI) or >= 32
  kImpossibleInMode,  // exception the guest mode cannot raise (#BR in 64-bit mode)
};

/// Checks event_inj as VMRUN does; `guest_64bit` is the guest's mode after the world switch
/// (EFER.LMA and CS.L). Reserved bits 30:12 are ignored (UNCONFIRMED, see event.cc).
EventInjCheck check_event_inj(uint32_t event_inj, bool guest_64bit);

// ================================ vmrun_check.cc ================================================

/// EFER / CR0 / CR4 bits the checks read (APM vol 2 3.1, 3.1.7).
namespace efer {
inline constexpr uint64_t kSce = 1u << 0;
inline constexpr uint64_t kLme = 1u << 8;
inline constexpr uint64_t kLma = 1u << 10;
inline constexpr uint64_t kNxe = 1u << 11;
inline constexpr uint64_t kSvme = 1u << 12;
inline constexpr uint64_t kLmsle = 1u << 13;
inline constexpr uint64_t kFfxsr = 1u << 14;
inline constexpr uint64_t kTce = 1u << 15;
/// Bits a Zen 4 profile defines (APM vol 2 3.1.7; MCOMMIT 17, INTWB 18, UAIE 20, AIBRSE 21
/// exist on later parts and are left reserved here: ESTIMATE, profile-dependent).
inline constexpr uint64_t kDefinedZen4 = kSce | kLme | kLma | kNxe | kSvme | kLmsle | kFfxsr | kTce;
}  // namespace efer
namespace cr0 {
inline constexpr uint64_t kPe = 1u << 0;
inline constexpr uint64_t kNw = 1u << 29;
inline constexpr uint64_t kCd = 1u << 30;
inline constexpr uint64_t kPg = 1u << 31;
}  // namespace cr0
namespace cr4 {
inline constexpr uint64_t kPae = 1u << 5;
/// VME..LA57 (bits 0-12), FSGSBASE 16, PCIDE 17, OSXSAVE 18, SMEP 20, SMAP 21, PKE 22, CET 23
/// (APM vol 2 3.1.3). Bits 13/14 (Intel VMXE/SMXE) are reserved on AMD.
inline constexpr uint64_t kDefinedZen4 = 0x1FFFu | (1u << 16) | (1u << 17) | (1u << 18) |
                                         (1u << 20) | (1u << 21) | (1u << 22) | (1u << 23);
}  // namespace cr4

/// Host capabilities that VMRUN's checks depend on (a CPU profile supplies them).
struct SvmCaps {
  uint8_t max_phys_addr_bits = 52;  // CPUID 0x8000_0008 EAX[7:0]; ESTIMATE: Zen 4 value
  bool long_mode = true;
  bool nested_paging = true;     // CPUID 0x8000_000A EDX[0]
  bool sev = true;               // CPUID 0x8000_001F EAX[1]
  bool sev_es = true;            // CPUID 0x8000_001F EAX[3]
  uint32_t nasid = 32768;        // CPUID 0x8000_000A EBX; ESTIMATE: Zen 4 value
  uint32_t max_sev_asid = 1006;  // CPUID 0x8000_001F ECX; ESTIMATE
  // CPUID 0x8000_001F EDX: ES/SNP ASIDs are 1..min-1. ESTIMATE: a BIOS setting.
  uint32_t min_sev_asid = 100;
  uint64_t efer_defined = efer::kDefinedZen4;
  uint64_t cr4_defined = cr4::kDefinedZen4;
};

/// The guest-state fields VMRUN checks, copied out of the save area once (STYLE rule 12).
struct VmrunGuestState {
  uint64_t efer = 0, cr0 = 0, cr3 = 0, cr4 = 0, dr6 = 0, dr7 = 0, g_pat = 0;
  uint16_t cs_attrib = 0;
};
VmrunGuestState guest_state_of(const VmcbSaveArea& save);
/// SEV-ES: the guest state is the VMSA's.
VmrunGuestState guest_state_of(const SevEsSaveArea& vmsa);

/// Which consistency check failed; any value but kOk means #VMEXIT(VMEXIT_INVALID).
/// Checks are evaluated in this order and the first failure is reported.
enum class VmrunCheck : uint8_t {
  kOk,
  kEferSvmeClear,         // EFER.SVME = 0
  kCr0CdClearNwSet,       // CR0.CD = 0 and CR0.NW = 1
  kCr0HighBits,           // CR0[63:32] != 0
  kCr3Mbz,                // CR3 MBZ bits set (long mode: bits >= MAXPHYADDR)
  kCr4Mbz,                // CR4 reserved bit set
  kDr6HighBits,           // DR6[63:32] != 0
  kDr7HighBits,           // DR7[63:32] != 0
  kEferMbz,               // EFER reserved bit set
  kLongModeUnsupported,   // EFER.LME or LMA set without long-mode support
  kLongModeNoPae,         // EFER.LME and CR0.PG, CR4.PAE = 0
  kLongModeNoPe,          // EFER.LME and CR0.PG, CR0.PE = 0
  kLongModeCsLAndD,       // EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all set
  kVmrunInterceptClear,   // VMRUN intercept bit clear
  kAsidZero,              // guest ASID 0
  kAsidTooLarge,          // ASID >= NASID (UNCONFIRMED)
  kNpUnsupported,         // NP_ENABLE without nested paging
  kSevUnsupported,        // SEV_ENABLE without SEV
  kSevEsUnsupported,      // SEV_ES_ENABLE without SEV-ES
  kSevWithoutNp,          // SEV_ENABLE without NP_ENABLE (UNCONFIRMED)
  kSevEsWithoutSev,       // SEV_ES_ENABLE without SEV_ENABLE (UNCONFIRMED)
  kSevAsidOutOfRange,     // SEV guest ASID > max SEV ASID (UNCONFIRMED)
  kSevEsAsidOutOfRange,   // SEV-ES guest ASID >= min SEV ASID (UNCONFIRMED)
  kVmsaPaInvalid,         // SEV-ES VMSA PA unaligned or beyond MAXPHYADDR (UNCONFIRMED)
  kMsrpmBeyondMaxPa,      // MSRPM extends to or past the maximum physical address
  kIopmBeyondMaxPa,       // IOPM extends to or past the maximum physical address
  kGPatInvalid,           // NP_ENABLE and g_pat holds a reserved memory type
  kEventInjReservedType,  // see EventInjCheck
  kEventInjNotAnException,
  kEventInjImpossibleInMode,
  // SEV-SNP (SEV_FEATURES.SNP_ACTIVE in the VMSA, SYSCFG.SNP_EN): the VMSA page's RMP entry,
  // checked after every rule above (check_snp_vmsa; the order among them is UNCONFIRMED).
  kSnpVmsaNotAssigned,    // no RMP entry covers the page, or it is not assigned
  kSnpVmsaAsidMismatch,   // assigned to another ASID than the VMCB's
  kSnpVmsaNot4K,          // a 2 MiB RMP entry (UNCONFIRMED)
  kSnpVmsaNotValidated,   // Validated clear (UNCONFIRMED)
  kSnpVmsaBitClear,       // the entry's VMSA bit clear
  kSnpVmsaInUse,          // already the VMSA of a running vCPU (UNCONFIRMED)
};

/// Runs every VMRUN consistency check. APM vol 2 15.5.1; Linux kvm/svm/nested.c
/// nested_vmcb_check_controls / __nested_vmcb_check_save.
VmrunCheck check_vmrun(const VmcbControlArea& control, const VmrunGuestState& guest,
                       const SvmCaps& caps);
/// Short text naming the rule, for traces and failure messages.
std::string_view vmrun_check_name(VmrunCheck check);

/// What VMRUN reads of an SNP guest's VMSA page in the RMP (the core fills it from rmp/; this
/// package knows no RMP).
struct VmsaRmpState {
  bool covered = false;    // an RMP entry exists for the page
  bool assigned = false;
  bool page_2m = false;    // the entry is (part of) a 2 MiB RMP page
  bool validated = false;
  bool vmsa = false;       // the entry's VMSA bit
  uint32_t asid = 0;
  bool in_use = false;     // the page is the VMSA of a vCPU running now (RMP in-use marking)
};

/// VMRUN's RMP rules for the VMSA of an SNP guest of ASID `guest_asid`, in the enum's order:
/// kOk or the first kSnpVmsa* rule broken. Sources and confidence at the definition
/// (cpu/svm/vmrun_check.cc).
VmrunCheck check_snp_vmsa(const VmsaRmpState& page, uint32_t guest_asid);

/// True when every byte of a PAT value is a defined memory type (0, 1, 4, 5, 6, 7).
bool pat_valid(uint64_t pat);

// ================================ permission_map.cc =============================================

/// MSRPM is 8 KiB, IOPM 12 KiB. APM vol 2 15.10 / 15.11; Linux MSRPM_SIZE / IOPM_SIZE.
inline constexpr uint64_t kMsrpmSize = 0x2000;
inline constexpr uint64_t kIopmSize = 0x3000;

/// The maps' base addresses as VMRUN uses them: bits 11:0 of the VMCB fields are ignored.
Hpa msrpm_base(const VmcbControlArea& control);
Hpa iopm_base(const VmcbControlArea& control);

enum class MsrAccess : uint8_t { kRead, kWrite };

/// Where the intercept bit of one MSR access lives in the MSRPM.
struct MsrpmSlot {
  uint32_t byte_offset = 0;  // from the MSRPM base
  uint8_t bit = 0;           // 0..7 within that byte
  constexpr bool operator==(const MsrpmSlot&) const = default;
};

/// The MSRPM slot for an access, or nullopt when the MSR is outside the three mapped ranges
/// (0-0x1FFF, 0xC000_0000-0xC000_1FFF, 0xC001_0000-0xC001_1FFF); such accesses always exit.
std::optional<MsrpmSlot> msrpm_slot(uint32_t msr, MsrAccess access);

/// True when RDMSR/WRMSR of `msr` exits (MSR_PROT set is the caller's business). A map shorter
/// than the slot needs is treated as "intercept".
bool msr_intercepted(std::span<const uint8_t> msrpm, uint32_t msr, MsrAccess access);

/// The IOPM bytes one I/O access must read: bits port .. port+size-1 (no wrap at 0xFFFF: the
/// map has 64K + 3 bits). `mask` applies to the little-endian value of `byte_count` bytes.
struct IopmProbe {
  uint32_t byte_offset = 0;
  uint8_t byte_count = 0;  // 1 or 2
  uint16_t mask = 0;
  constexpr bool operator==(const IopmProbe&) const = default;
};

/// The probe for an access of `size` bytes (1, 2 or 4); nullopt for any other size.
std::optional<IopmProbe> iopm_probe(uint16_t port, unsigned size);

/// True when an IN/OUT/INS/OUTS of `size` bytes at `port` exits: any covered bit set. A bad
/// size or a too-short map counts as "intercept".
bool io_intercepted(std::span<const uint8_t> iopm, uint16_t port, unsigned size);

// ================================ ioio.cc =======================================================

enum class IoType : uint8_t { kOut = 0, kIn = 1 };
/// Segment numbers of the IOIO SEG field (bits 12:10), ES = 0 ... GS = 5.
enum class SegReg : uint8_t { kEs = 0, kCs, kSs, kDs, kFs, kGs };

/// The fields of an IOIO intercept's exit_info_1. APM vol 2 15.10.2; PLATFORM-FACTS 5.1.
struct IoioInfo {
  IoType type = IoType::kOut;
  bool string = false;       // INS / OUTS
  bool rep = false;          // REP prefix
  uint8_t operand_size = 1;  // bytes: 1, 2, 4 (SZ8 / SZ16 / SZ32)
  uint8_t address_size = 8;  // bytes: 2, 4, 8 (A16 / A32 / A64)
  SegReg segment = SegReg::kEs;
  uint16_t port = 0;
  constexpr bool operator==(const IoioInfo&) const = default;
};

enum class IoioError : uint8_t {
  kBadOperandSize,  // not 1/2/4, or not exactly one SZ bit
  kBadAddressSize,  // not 2/4/8, or not exactly one A bit
  kBadSegment,      // SEG > 5
  kReservedBits,    // bit 1, bits 15:13 or bits 63:32 set
};

namespace ioio_bits {
inline constexpr uint64_t kTypeIn = 1u << 0;
inline constexpr uint64_t kStr = 1u << 2;
inline constexpr uint64_t kRep = 1u << 3;
inline constexpr uint64_t kSz8 = 1u << 4, kSz16 = 1u << 5, kSz32 = 1u << 6;
inline constexpr uint64_t kA16 = 1u << 7, kA32 = 1u << 8, kA64 = 1u << 9;
inline constexpr unsigned kSegShift = 10;
inline constexpr unsigned kPortShift = 16;
}  // namespace ioio_bits

std::expected<uint64_t, IoioError> encode_ioio(const IoioInfo& info);
/// Strict decode (also for guest-supplied values, e.g. a GHCB's SW_EXITINFO1).
std::expected<IoioInfo, IoioError> decode_ioio(uint64_t exit_info_1);

/// exit_info_1 and exit_info_2 of an IOIO #VMEXIT: exit_info_2 is the RIP of the instruction
/// after the IN/OUT (APM vol 2 15.10.2).
struct IoioExit {
  uint64_t exit_info_1 = 0;
  uint64_t exit_info_2 = 0;
};
std::expected<IoioExit, IoioError> make_ioio_exit(const IoioInfo& info, uint64_t next_rip);

// ================================ sev_es_exit.cc ================================================

inline constexpr uint8_t kVcVector = 29;  // PLATFORM-FACTS 0

/// How an intercept that fires inside an SEV-ES guest is delivered.
enum class SevEsExitKind : uint8_t {
  kAutomatic,  // "automatic exit": #VMEXIT to the hypervisor with this exit code
  kVc,         // "non-automatic": #VC in the guest, error code = exit code
};

/// Classifies an intercepted event of an SEV-ES guest. `exit_info_1` matters for NPF only (a
/// fault with the RSVD bit, bit 3, is the MMIO case and becomes #VC). The list is UNCONFIRMED
/// (PLATFORM-FACTS 11.12); see sev_es_exit.cc for the choice and its reasons.
SevEsExitKind classify_sev_es_exit(uint64_t exit_code, uint64_t exit_info_1);

// ================================ exit_rules.cc =================================================

/// TLB_CONTROL (VMCB 0x05C). APM vol 2 15.16.1; Linux TLB_CONTROL_*; PLATFORM-FACTS 5.1.
enum class TlbControl : uint8_t {
  kDoNothing = 0,
  kFlushAll = 1,           // flush every ASID's entries, all CPUs' view (the whole TLB)
  kFlushAsid = 3,          // flush this guest's ASID
  kFlushAsidNonGlobal = 7  // flush this ASID's non-global entries
};
/// Decodes tlb_ctl; nullopt for the reserved values (what VMRUN does with them is UNCONFIRMED).
std::optional<TlbControl> decode_tlb_control(uint8_t tlb_ctl);

/// True when #VMEXIT with this code writes next_rip (NRIPS, APM vol 2 15.7.1): instruction
/// intercepts, MSR and IOIO, and exceptions raised by INT3 / INTO / BOUND
/// (`exception_from_insn` set by the core). For every other exit next_rip is written as 0.
bool exit_writes_next_rip(uint64_t exit_code, bool exception_from_insn);

// ================================ exit_info.cc ==================================================

/// exit_info_1 of an MSR intercept: 0 for RDMSR, 1 for WRMSR (APM vol 2 15.11; KVM
/// msr_interception tests it for non-zero).
uint64_t msr_exit_info_1(MsrAccess access);
/// Decodes an MSR exit_info_1 (also a guest-supplied GHCB SW_EXITINFO1): 0 = read, 1 = write,
/// anything else nullopt. UNCONFIRMED: KVM treats any non-zero value as a write; a strict
/// decoder lets the caller choose.
std::optional<MsrAccess> decode_msr_exit_info_1(uint64_t exit_info_1);

/// exit_info_1 of a CR/DR access intercept with decode assists (APM vol 2 15.33): bit 63 set
/// for a MOV CRn/DRn (clear for CLTS, LMSW, SMSW), bits 3:0 the GPR number.
/// Linux kvm/svm: CR_VALID = bit 63, SVM_EXITINFO_REG_MASK = 0x0F.
namespace crdr_exit_info {
inline constexpr uint64_t kMov = uint64_t{1} << 63;
inline constexpr uint64_t kGprMask = 0x0F;
}  // namespace crdr_exit_info
uint64_t crdr_exit_info_1(bool is_mov, unsigned gpr);

}  // namespace snpemu::svm
