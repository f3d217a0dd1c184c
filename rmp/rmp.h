// rmp/rmp.h: the Reverse Map Table (RMP) of an SEV-SNP host, its instructions and its checks.
//
// Table of contents (grouped by the file that defines them):
//   entry.cc      RmpEntry (typed), RawRmpEntry (hardware 16-byte format), encode/decode,
//                 RmpStateView (the architected 16-byte RMPUPDATE input / RMPREAD output);
//                 the codec's static_asserts live in entry.cc
//   table.cc      RmpMsrs, SegmentedRmpCpuid, RmpConfigError, class Rmp (location of the table in
//                 emulated memory, contiguous or segmented; lookup through host pointers into
//                 Memory's contiguous backing of the tables; VMSA in-use set; serialize)
//   result.cc     RmpRc (return codes), Fault (#NPF / #VC / host #PF), InsnResult
//   host_insn.cc  rmpupdate, psmash, rmpread (host, CPL0 hypervisor)
//   guest_insn.cc pvalidate, rmpadjust (SNP guest)
//   check.cc      check_host_access, check_guest_access (called from the MMU access path)
//
// Nothing here knows a core: the caller translates addresses, reads operands, delivers the
// returned faults and charges the cycles of the check that `RmpCheck` names.
//
// Model invariant (a choice of this emulator, documented here and tested by test/rmp): a 2 MiB RMP page is
// stored as 512 entries that all carry the same state (PageSize = 2M) except the GPA, which is
// the 2 MiB GPA + i * 4 KiB. Every check therefore needs exactly one entry: the accessed page's.
// An unassigned entry is stored as all-zero bytes, so sparse Memory that reads zero is exactly
// an unassigned RMP and placing an RMP for 1 TiB of host memory touches nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "base/serializer.h"
#include "base/types.h"
#include "emu/mem/memory.h"

namespace snpemu::rmp {

// ================================ entry.cc =====================================================

/// RMP page size. PLATFORM-FACTS 4.2 [L]: RMP_PG_SIZE_4K = 0, RMP_PG_SIZE_2M = 1; only these.
enum class PageSize : uint8_t { k4K = 0, k2M = 1 };

/// VMPL permission mask bits (4 bits per VMPL). PLATFORM-FACTS 4.2 / 4.6 [3P COCONUT/VeriSMo].
namespace perm {
inline constexpr uint8_t kRead = 1 << 0;
inline constexpr uint8_t kWrite = 1 << 1;
inline constexpr uint8_t kUserExec = 1 << 2;
inline constexpr uint8_t kSupervisorExec = 1 << 3;
inline constexpr uint8_t kAll = 0xF;
}  // namespace perm

/// Typed RMP entry: the state the hardware holds per 4 KiB host page (APM concept list).
/// VMPL0 always has full access (UNCONFIRMED, PLATFORM-FACTS 11.2), so only VMPL1-3 are held.
struct RmpEntry {
  bool assigned = false;
  PageSize page_size = PageSize::k4K;
  bool immutable = false;
  bool validated = false;
  bool vmsa = false;
  Asid asid{};                              // 10 bits in the raw format
  Gpa gpa{};                                // page aligned, 51 bits in the raw format
  std::array<uint8_t, 3> vmpl_perms{};      // [0] = VMPL1 ... [2] = VMPL3, 4-bit masks
  bool operator==(const RmpEntry&) const = default;
  /// Permission mask of `vmpl` on this page (VMPL0: perm::kAll).
  constexpr uint8_t perms_of(Vmpl vmpl) const {
    return vmpl.value == 0 ? perm::kAll : vmpl_perms[vmpl.value - 1];
  }
  /// One line, e.g. "assigned 2M asid 5 gpa 0x200000 validated vmsa perms 0/f/0".
  std::string to_string() const;
};

/// Raw 16-byte entry as stored in the RMP. Low qword per PLATFORM-FACTS 4.2 [L] (Family 19h
/// Model 01h PPR): bit 0 Assigned, bit 1 PageSize, bit 2 Immutable, bits 50:12 GPA >> 12,
/// bits 60:51 ASID, bit 61 VMSA, bit 62 Validated.
/// High qword: UNCONFIRMED (PLATFORM-FACTS 11.2; Linux does not decode it). Chosen here: one byte
/// per VMPL, bits 8v+3..8v hold the VMPLv mask for v = 1..3; byte 0 and bits 7:4 of each byte are
/// reserved (VMPL0 is implicitly all-permissions).
struct RawRmpEntry {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const RawRmpEntry&) const = default;
};
static_assert(sizeof(RawRmpEntry) == 16 && alignof(RawRmpEntry) == 8);

namespace raw {
inline constexpr uint64_t kAssigned = uint64_t{1} << 0;
inline constexpr uint64_t kPageSize2M = uint64_t{1} << 1;
inline constexpr uint64_t kImmutable = uint64_t{1} << 2;
inline constexpr unsigned kGpaShift = 12;  // bits 50:12 hold GPA[50:12]
inline constexpr uint64_t kGpaMask = ((uint64_t{1} << 51) - 1) & ~uint64_t{0xFFF};
inline constexpr unsigned kAsidShift = 51;  // bits 60:51
inline constexpr uint64_t kAsidMax = (uint64_t{1} << 10) - 1;
inline constexpr uint64_t kVmsa = uint64_t{1} << 61;
inline constexpr uint64_t kValidated = uint64_t{1} << 62;
constexpr unsigned perm_shift(unsigned vmpl) { return 8 * vmpl; }  // vmpl 1..3, UNCONFIRMED
}  // namespace raw

/// Typed -> raw. Fields wider than the raw format (ASID > 1023, GPA >= 2^51) are truncated;
/// instruction semantics reject such inputs before they get here.
constexpr RawRmpEntry encode(const RmpEntry& e) {
  RawRmpEntry r;
  r.lo = (e.assigned ? raw::kAssigned : 0) | (e.page_size == PageSize::k2M ? raw::kPageSize2M : 0) |
         (e.immutable ? raw::kImmutable : 0) | (e.gpa.value & raw::kGpaMask) |
         ((uint64_t{e.asid.value} & raw::kAsidMax) << raw::kAsidShift) |
         (e.vmsa ? raw::kVmsa : 0) | (e.validated ? raw::kValidated : 0);
  for (unsigned v = 1; v <= 3; ++v) {
    r.hi |= static_cast<uint64_t>(e.vmpl_perms[v - 1] & perm::kAll) << raw::perm_shift(v);
  }
  return r;
}

/// Raw -> typed. Reserved bits are ignored.
constexpr RmpEntry decode(RawRmpEntry r) {
  RmpEntry e;
  e.assigned = (r.lo & raw::kAssigned) != 0;
  e.page_size = (r.lo & raw::kPageSize2M) != 0 ? PageSize::k2M : PageSize::k4K;
  e.immutable = (r.lo & raw::kImmutable) != 0;
  e.gpa = Gpa{r.lo & raw::kGpaMask};
  e.asid = Asid{static_cast<uint32_t>((r.lo >> raw::kAsidShift) & raw::kAsidMax)};
  e.vmsa = (r.lo & raw::kVmsa) != 0;
  e.validated = (r.lo & raw::kValidated) != 0;
  for (unsigned v = 1; v <= 3; ++v) {
    e.vmpl_perms[v - 1] = static_cast<uint8_t>((r.hi >> raw::perm_shift(v)) & perm::kAll);
  }
  return e;
}

/// The architected 16-byte RMP state: RMPUPDATE's input at RCX and RMPREAD's output at RCX.
/// PLATFORM-FACTS 4.2 / 4.3 [L] (Linux `struct rmp_state` / `struct rmpentry`).
struct RmpStateView {
  uint64_t gpa = 0;        // 0x00
  uint8_t assigned = 0;    // 0x08 bit 0
  uint8_t pagesize = 0;    // 0x09 bit 0 page size; bit 1 "2 MiB region status" (RMPREAD only)
  uint8_t immutable = 0;   // 0x0A bit 0
  uint8_t rsvd = 0;        // 0x0B
  uint32_t asid = 0;       // 0x0C
  bool operator==(const RmpStateView&) const = default;
};
static_assert(sizeof(RmpStateView) == 16);
static_assert(offsetof(RmpStateView, gpa) == 0x00 && offsetof(RmpStateView, assigned) == 0x08 &&
              offsetof(RmpStateView, pagesize) == 0x09 && offsetof(RmpStateView, immutable) == 0x0A &&
              offsetof(RmpStateView, rsvd) == 0x0B && offsetof(RmpStateView, asid) == 0x0C);

/// Byte image <-> view (little endian, as the core reads/writes guest or host memory).
RmpStateView state_view_from_bytes(const std::array<uint8_t, 16>& bytes);
std::array<uint8_t, 16> state_view_to_bytes(const RmpStateView& view);

// ================================ result.cc ====================================================

/// Instruction return codes in EAX. RMPUPDATE / PSMASH: PLATFORM-FACTS 4.3 / 4.4 ([L-patch];
/// OVERLAP and INUSE in merged sev.h). PVALIDATE / RMPADJUST: 4.5 / 4.6. Value 4 means OVERLAP
/// for RMPUPDATE and BADADDR for PSMASH.
enum class RmpRc : uint32_t {
  kSuccess = 0,
  kFailInput = 1,
  kFailPermission = 2,
  kFailInuse = 3,
  kFailOverlap = 4,   // RMPUPDATE
  kFailBadAddr = 4,   // PSMASH
  kFailSizeMismatch = 6,
};
const char* rc_name(RmpRc rc, bool psmash = false);

/// #NPF error-code bits (EXITINFO1 of exit 0x400). PLATFORM-FACTS 4.8 [L] kvm_host.h.
namespace npf {
inline constexpr uint64_t kPresent = uint64_t{1} << 0;
inline constexpr uint64_t kWrite = uint64_t{1} << 1;
inline constexpr uint64_t kUser = uint64_t{1} << 2;
inline constexpr uint64_t kFetch = uint64_t{1} << 4;
inline constexpr uint64_t kRmp = uint64_t{1} << 31;
inline constexpr uint64_t kGuestFinal = uint64_t{1} << 32;
inline constexpr uint64_t kGuestPage = uint64_t{1} << 33;
inline constexpr uint64_t kEnc = uint64_t{1} << 34;
inline constexpr uint64_t kSizem = uint64_t{1} << 35;
inline constexpr uint64_t kVmpl = uint64_t{1} << 36;
}  // namespace npf

/// Host #PF error-code bits. PLATFORM-FACTS 4.7 [L] trap_pf.h.
namespace hostpf {
inline constexpr uint64_t kPresent = uint64_t{1} << 0;
inline constexpr uint64_t kWrite = uint64_t{1} << 1;
inline constexpr uint64_t kUser = uint64_t{1} << 2;
inline constexpr uint64_t kFetch = uint64_t{1} << 4;
inline constexpr uint64_t kRmp = uint64_t{1} << 31;
}  // namespace hostpf

/// #VC error code for a private access to an unvalidated page. PLATFORM-FACTS 4.7 [AMD-eng].
inline constexpr uint64_t kVcPageNotValidated = 0x404;

/// An architectural event the caller must deliver; the instruction / access did not complete.
struct Fault {
  enum class Kind : uint8_t {
    kNpf,     // #VMEXIT(NPF): error_code -> EXITINFO1, address -> EXITINFO2 (GPA)
    kVc,      // #VC in the guest with error_code (0x404)
    kHostPf,  // #PF on the host: error_code with bit 31 (RMP); address = host PA
  };
  Kind kind = Kind::kNpf;
  uint64_t error_code = 0;
  uint64_t address = 0;  // GPA for kNpf/kVc, HPA for kHostPf
  bool operator==(const Fault&) const = default;
  std::string to_string() const;
};

/// Outcome of an RMP instruction: EAX return code, RFLAGS.CF, or a fault (then rc/cf unused).
struct InsnResult {
  RmpRc rc = RmpRc::kSuccess;
  bool cf = false;
  std::optional<Fault> fault;
  bool operator==(const InsnResult&) const = default;
  std::string to_string() const;
};

// ================================ table.cc =====================================================

/// MSR inputs that locate and enable the RMP. PLATFORM-FACTS 0 [L] msr-index.h.
struct RmpMsrs {
  uint64_t syscfg = 0;    // 0xC001_0010: bit 24 SNP_EN
  uint64_t rmp_base = 0;  // 0xC001_0132
  uint64_t rmp_end = 0;   // 0xC001_0133 (inclusive last byte; ignored when segmented)
  uint64_t rmp_cfg = 0;   // 0xC001_0136: bit 0 segmented, bits 13:8 segment shift
};
inline constexpr uint64_t kSyscfgSnpEn = uint64_t{1} << 24;
inline constexpr uint64_t kRmpCfgSegmented = uint64_t{1} << 0;
inline constexpr uint64_t kRmpBookkeepingSize = 0x4000;  // PLATFORM-FACTS 4.1 [L]
inline constexpr uint64_t kRmpEntrySize = 16;
inline constexpr unsigned kRstMaxEntries = 512;          // RST is 4 KiB of 8-byte entries

/// CPUID 0x8000_0025 (segmented RMP limits). PLATFORM-FACTS 0 [L]: EAX[5:0] min segment shift,
/// EAX[11:6] max; EBX bit 10 set => EBX[9:0] limits the number of RST entries.
struct SegmentedRmpCpuid {
  uint32_t eax = 0;
  uint32_t ebx = 0;
};

/// Precise reason why the MSRs do not describe a usable RMP.
struct RmpConfigError {
  enum class Kind : uint8_t {
    kSnpDisabled,         // SYSCFG.SNP_EN clear
    kNotReserved,         // RMP_BASE / RMP_END bits 51:13 zero: "BIOS reserved no RMP"
    kBaseMisaligned,      // RMP_BASE bits 12:0 not zero (UNCONFIRMED: rejected, not ignored)
    kEndBeforeBase,       // RMP_END < RMP_BASE
    kOutsideMemory,       // table (or bookkeeping/RST, or a segment table) beyond RAM
    kTooSmall,            // contiguous table smaller than 0x4000 + pages * 16
    kSegmentShiftRange,   // RMP_CFG shift outside CPUID min..max, or < 21 (emulator limit)
    kSegmentOverlap,      // a segment's table overlaps another one or the bookkeeping/RST
  };
  Kind kind = Kind::kSnpDisabled;
  uint64_t value = 0;  // the offending value (address, shift, ...)
  uint64_t limit = 0;  // the bound it violated
  std::string message() const;
};

/// The RMP of one machine: where its entries live in `Memory`, plus the VMSA in-use set that
/// VMRUN/#VMEXIT maintain (PLATFORM-FACTS 4.3 [AMD-eng]). Holds no entry state of its own.
class Rmp {
 public:
  /// Validates the MSRs (and, when segmented, reads the RST from memory) and returns the table.
  /// Touches no entry: Linux zeroes the table before SNP_EN; here zero is already unassigned.
  static std::expected<Rmp, RmpConfigError> create(Memory& mem, const RmpMsrs& msrs,
                                                   SegmentedRmpCpuid cpuid = {});

  bool segmented() const { return segmented_; }
  Memory& memory() const { return *mem_; }
  /// Host-physical address of `pfn`'s entry, or nullopt when no RMP entry covers `pfn`.
  std::optional<Hpa> entry_address(Pfn pfn) const;
  /// The hot path: one bounds check and one 16-byte load at host pointer + pfn * 16, for the
  /// contiguous table and for the segments that cover RAM from PFN 0 without a hole (Memory
  /// backs their tables in one host window). Other segments: shift + decoded segment table +
  /// pointer add, out of line. nullopt when `pfn` is not covered. Reads only.
  std::optional<RawRmpEntry> lookup(Pfn pfn) const;
  /// True if every entry table is backed contiguously in Memory (Memory::back_window, asked by
  /// create()), so lookup() reads every entry through a host pointer. False only when Memory
  /// refused (see backing_error()); lookup() is then still exact but asks Memory for the table
  /// page of each entry it reads in the refused tables.
  bool direct_lookup() const { return !backing_error_.has_value(); }
  /// Why a table could not be backed contiguously (the first refusal), if any: e.g. a table page
  /// written before create(), or the host refusing the reservation.
  const std::optional<BackingError>& backing_error() const { return backing_error_; }
  /// lookup() decoded; an uncovered page reads as unassigned.
  RmpEntry entry(Pfn pfn) const { return decode(lookup(pfn).value_or(RawRmpEntry{})); }
  /// True if every page of [pfn, pfn + count) has an entry.
  bool covers(Pfn pfn, uint64_t count) const;
  /// Stores `e` as `pfn`'s entry (pfn must be covered). Writing zeros to an untouched RMP page
  /// allocates nothing. Used by the instructions and by firmware (e.g. LAUNCH_UPDATE).
  void store(Pfn pfn, const RmpEntry& e);
  /// True if `pfn` holds RMP bookkeeping, the RST or entries: such pages behave as firmware
  /// pages (host writes fault, RMPUPDATE/PSMASH fail with FAIL_PERMISSION). UNCONFIRMED choice.
  bool is_rmp_page(Pfn pfn) const;
  /// True if any page of the 2 MiB region containing `pfn` is an RMP page.
  bool region_has_rmp_page(Pfn pfn) const;

  /// VMRUN marks its VMSA page in use, #VMEXIT clears it (PLATFORM-FACTS 4.3 [AMD-eng]).
  void set_vmsa_in_use(Pfn pfn, bool in_use);
  bool vmsa_in_use(Pfn pfn) const;
  /// True if any page in [pfn, pfn + count) is in use.
  bool any_in_use(Pfn pfn, uint64_t count) const;
  /// Symmetric snapshot of the Rmp's own state (layout fingerprint, VMSA in-use set); entries
  /// are in Memory's snapshot. Restore into an Rmp created from the same MSRs.
  void serialize(Serializer& s);

 private:
  struct Segment {
    uint64_t table = 0;    // HPA of the segment's first entry (page aligned)
    uint64_t entries = 0;  // pages mapped by the segment
  };
  // A host view of entries: the entry of PFN p lives at host address bias + p * 16 for every
  // p below end_pfn (and, for a segment, at or above its first PFN). bias is kept as an integer
  // because it may point outside any object. end_pfn = 0: nothing to read here.
  struct FastTable {
    uintptr_t bias = 0;
    uint64_t end_pfn = 0;
  };
  struct PfnRange {
    uint64_t first = 0;
    uint64_t end = 0;  // exclusive
  };
  explicit Rmp(Memory& mem) : mem_(&mem) {}
  // lookup() outside window_: the host address of `pfn`'s 16 entry bytes (through
  // fast_segments_, else Memory's page; a constant all-zero entry for a table page never
  // written), or nullptr when no entry covers `pfn`. Pure and returned in a register, so a
  // caller's loop keeps window_ in registers.
  [[gnu::pure]] const uint8_t* entry_pointer_outside_window(Pfn pfn) const;
  // Asks Memory to back the entry tables contiguously; fills window_ and fast_segments_.
  void back_tables();

  Memory* mem_;
  bool segmented_ = false;
  uint64_t entries_base_ = 0;   // contiguous: HPA of entry 0
  uint64_t covered_pages_ = 0;  // contiguous: number of entries
  unsigned segment_page_shift_ = 0;  // segmented: shift - 12
  uint64_t segment_page_mask_ = 0;   // segmented: (1 << segment_page_shift_) - 1
  uint64_t segment_count_ = 0;       // segmented: segments_.size()
  std::vector<Segment> segments_;
  std::vector<PfnRange> rmp_pages_;
  std::vector<uint64_t> in_use_;  // PFNs of VMSAs currently running (one per running vCPU)
  // Host pointers into Memory's contiguous reservations (valid for Memory's lifetime; not model
  // state: a pure function of the layout, rebuilt by create()).
  // window_: PFNs [0, window_.end_pfn), all covered, read with one compare and one load. The
  // whole contiguous table; for a segmented RMP the longest run of segments from segment 0 that
  // covers every PFN up to its end (all full but the last), whose tables Memory places in one
  // host window at entry offset = PFN (Memory::back_window), however scattered they are in RAM.
  FastTable window_;
  // Segmented: one per RST index (as segments_), for PFNs beyond window_.
  std::vector<FastTable> fast_segments_;
  std::optional<BackingError> backing_error_;
};

inline std::optional<Hpa> Rmp::entry_address(Pfn pfn) const {
  if (!segmented_) {
    if (pfn.value >= covered_pages_) return std::nullopt;
    return Hpa{entries_base_ + (pfn.value << 4)};
  }
  const uint64_t index = pfn.value >> segment_page_shift_;
  if (index >= segment_count_) return std::nullopt;
  const Segment& s = segments_[index];
  const uint64_t in_segment = pfn.value & segment_page_mask_;
  if (in_segment >= s.entries) return std::nullopt;
  return Hpa{s.table + (in_segment << 4)};
}

inline std::optional<RawRmpEntry> Rmp::lookup(Pfn pfn) const {
  const uint8_t* at;
  if (pfn.value < window_.end_pfn) [[likely]] {
    at = reinterpret_cast<const uint8_t*>(window_.bias + (pfn.value << 4));
  } else {
    at = entry_pointer_outside_window(pfn);
    if (at == nullptr) return std::nullopt;
  }
  RawRmpEntry e;
  std::memcpy(&e, at, sizeof e);
  return e;
}

// ================================ host_insn.cc =================================================

/// RMPUPDATE (RAX = `hpa`, RCX -> `state`). PLATFORM-FACTS 4.3. Checks in order:
///  FAIL_INPUT: hpa not 4K aligned (2M: not 2M aligned), page(s) not covered, reserved bits,
///    pagesize > 1, ASID > 1023, GPA not aligned to the page size or >= 2^51, an unassigned state
///    with non-zero GPA/ASID/immutable (UNCONFIRMED: Linux "make shared" zeroes them);
///  FAIL_PERMISSION: a target entry is immutable or an RMP page;
///  FAIL_INUSE: a target page is a VMSA in use;
///  FAIL_OVERLAP: 4K update of a page inside an assigned 2M entry, or 2M update of a region that
///    holds an assigned 4K entry. UNCONFIRMED: Linux treats OVERLAP as transient firmware 2M-range
///    locking and retries it in a loop [L virt/svm/sev.c rmpupdate()]; KVM never issues these
///    overlapping updates (it PSMASHes first, checks 512 unassigned before a 2M assign). A
///    hypervisor model must not retry this deterministic outcome forever.
/// Success writes the new state; Validated, VMSA and VMPL permissions are cleared (UNCONFIRMED,
/// PLATFORM-FACTS 11.2: VeriSMo model); an unassigned state is stored as all-zero.
InsnResult rmpupdate(Rmp& rmp, Hpa hpa, const RmpStateView& state);

/// PSMASH (RAX = 2 MiB-aligned `hpa`). PLATFORM-FACTS 4.4. FAIL_INPUT: not 2M aligned, or the
/// entry is not an assigned 2M page (UNCONFIRMED); FAIL_BADADDR: not covered by the RMP
/// (UNCONFIRMED); FAIL_PERMISSION: immutable; FAIL_INUSE: a VMSA of the range in use.
/// Success turns the 2M entry into 512 4K entries keeping every attribute (GPA + i * 4 KiB).
InsnResult psmash(Rmp& rmp, Hpa hpa);

/// RMPREAD (RAX = `hpa`; bits 11:0 ignored, UNCONFIRMED). FAIL_INPUT if not covered.
/// `view` is the architected entry; the "2 MiB region status" bit is always 0 (its meaning is
/// UNCONFIRMED; Linux's own raw-format RMPREAD emulation also leaves it 0 [L virt/svm/sev.c]).
struct RmpReadResult {
  InsnResult result;
  RmpStateView view;
};
RmpReadResult rmpread(const Rmp& rmp, Hpa hpa);

// ================================ guest_insn.cc ================================================

/// The running guest as the RMP sees it.
struct GuestContext {
  Asid asid;
  Vmpl vmpl;
};

/// Translation of the instruction's RAX operand, done by the caller (guest page walk + NPT walk).
/// `mapping` is the smaller of the guest and nested page sizes (1G counts as 2M).
enum class MappingSize : uint8_t { k4K, k2M, k1G };
struct GuestPageRef {
  Gva va;
  Gpa gpa;
  Hpa hpa;
  MappingSize mapping = MappingSize::k4K;
};

/// PVALIDATE (RAX = va, ECX bit 0 = size, EDX bit 0 = validate). PLATFORM-FACTS 4.5. Order:
///  FAIL_PERMISSION at VMPL > 0 (UNCONFIRMED, PLATFORM-FACTS 11.4);
///  FAIL_INPUT: 2M with va not 2M aligned;
///  #NPF RMP|ENC: entry (of the 2M head for 2M) not assigned to this ASID at this GPA or not
///    covered [3P VeriSMo];
///  FAIL_SIZEMISMATCH: 2M request over a 4K RMP entry or a 4K mapping [L + 3P];
///  #NPF RMP|SIZEM|ENC: 4K request inside a 2M RMP entry [L KVM comment];
///  Validated already equal to `validate`: success with CF = 1, nothing written.
InsnResult pvalidate(Rmp& rmp, const GuestContext& ctx, const GuestPageRef& page, PageSize size,
                     bool validate);

/// RMPADJUST attribute operand (RDX). PLATFORM-FACTS 4.6 [L].
namespace adjust {
inline constexpr uint64_t kTargetVmplMask = 0xFF;
inline constexpr unsigned kPermShift = 8;  // bits 11:8
inline constexpr uint64_t kVmsa = uint64_t{1} << 16;
inline constexpr uint64_t kReservedMask = ~(kTargetVmplMask | (uint64_t{0xF} << kPermShift) | kVmsa);
}  // namespace adjust

/// RMPADJUST (RAX = va, RCX bit 0 = size, RDX = attrs). PLATFORM-FACTS 4.6. Order:
///  FAIL_INPUT: reserved attr bits, target VMPL > 3, 2M with va not 2M aligned, VMSA with 2M
///    (UNCONFIRMED);
///  FAIL_PERMISSION: target VMPL not numerically greater than the current VMPL [L];
///  #NPF RMP|ENC: not assigned to this ASID at this GPA;
///  FAIL_SIZEMISMATCH / #NPF SIZEM: as PVALIDATE;
///  FAIL_PERMISSION: granted permissions not a subset of the caller's own [3P VeriSMo]; setting
///    or clearing the VMSA bit from VMPL > 0 (UNCONFIRMED).
/// Success sets the target VMPL's mask and the VMSA bit (all 512 entries for 2M).
InsnResult rmpadjust(Rmp& rmp, const GuestContext& ctx, const GuestPageRef& page, PageSize size,
                     uint64_t attrs);

// ================================ check.cc =====================================================

enum class AccessType : uint8_t { kRead, kWrite, kExecute };

/// Which RMP check ran (the caller charges its cycles from the timing table).
enum class RmpCheck : uint8_t {
  kNone,          // host read / fetch: no RMP check (UNCONFIRMED, see check_host_access)
  kHostPage,      // host write through a 4K mapping: one entry
  kHost2MRange,   // host write through a 2M/1G mapping: 512 entries
  kGuestShared,   // guest C=0 access: one entry
  kGuestPrivate,  // guest C=1 access: one entry, all rules
};

/// A host (hypervisor, ASID 0) access after its page walk.
struct HostAccess {
  Hpa hpa;
  AccessType type = AccessType::kRead;
  bool user = false;
  MappingSize mapping = MappingSize::k4K;
};

/// A guest access after its nested walk.
struct GuestAccess {
  GuestContext ctx;
  Gpa gpa;
  Hpa hpa;
  AccessType type = AccessType::kRead;
  bool user = false;
  bool c_bit = false;            // private (encrypted) access
  MappingSize mapping = MappingSize::k4K;  // nested (NPT) mapping size
  bool page_table_walk = false;  // access made by the guest page walk (NPF bit 33 vs 32)
};

/// Both checks look at one page (one 2 MiB region for large host mappings): a caller whose
/// access crosses a page boundary must split it and check each page, as the MMU does; checking
/// only the first byte would let a write spill into an assigned neighbour.
struct AccessResult {
  RmpCheck check = RmpCheck::kNone;
  std::optional<Fault> fault;
  bool operator==(const AccessResult&) const = default;
};

/// Host access rules (PLATFORM-FACTS 4.7 [L]): a write whose mapping range (4K: the page; 2M/1G:
/// the whole 2 MiB region) contains an assigned entry or an RMP page -> #PF P|W|(U)|RMP.
/// Reads and fetches are allowed (UNCONFIRMED, PLATFORM-FACTS 11.1: the host sees ciphertext of
/// private pages; firmware-page reads are not modelled as faults).
AccessResult check_host_access(const Rmp& rmp, const HostAccess& access);

/// Guest access rules (PLATFORM-FACTS 4.7). Shared (C=0): assigned entry -> #NPF RMP. Private
/// (C=1), in order: not covered / not assigned / ASID / GPA mismatch -> #NPF RMP|ENC; mapping size
/// != RMP page size (1G counts as 2M) -> #NPF RMP|SIZEM|ENC; not validated -> #VC 0x404; VMPL
/// mask lacks the access (read R, write W, fetch UX/SX by `user`; VMPL > 3 has none; the RMP bit
/// alongside VMPL is UNCONFIRMED) -> #NPF RMP|VMPL|ENC; write to a VMSA page from VMPL > 0 ->
/// #NPF RMP|VMPL|ENC (UNCONFIRMED; RMP set with VMPL is also a choice). NPF codes also carry P,
/// W, U, FETCH and GUEST_FINAL/GUEST_PAGE. The order of the rules is UNCONFIRMED.
/// Inline: lookup() and the common outcome in the caller; the ordered rules out of line.
AccessResult check_guest_access(const Rmp& rmp, const GuestAccess& access);

namespace detail {
/// check_guest_access() off its inline fast path: every rule above, in order (looks the entry
/// up again, so the fast path keeps its entry in registers).
AccessResult check_guest_access_rules(const Rmp& rmp, const GuestAccess& access);

/// The rules' common outcome in one masked compare: a private access the entry allows (assigned
/// to this ASID at this GPA, page size = mapping size, validated, VMPL mask grants the access,
/// not a VMSA write from VMPL > 0). False means "ask check_guest_access_rules", never a fault.
constexpr bool private_access_allowed(const GuestAccess& a, RawRmpEntry e) {
  // GPA bits above 50 and ASID bits above 9 cannot be held by an entry: never owned.
  if ((a.gpa.value >> 51) != 0 || a.ctx.asid.value > raw::kAsidMax) return false;
  const uint64_t want = raw::kAssigned | (a.gpa.value & raw::kGpaMask) |
                        (uint64_t{a.ctx.asid.value} << raw::kAsidShift) | raw::kValidated |
                        (a.mapping != MappingSize::k4K ? raw::kPageSize2M : 0);
  const uint64_t mask = raw::kAssigned | raw::kGpaMask | (raw::kAsidMax << raw::kAsidShift) |
                        raw::kPageSize2M | raw::kValidated;
  if ((e.lo & mask) != want) return false;
  if (a.ctx.vmpl.value == 0) return true;
  if (a.ctx.vmpl.value > 3) return false;
  const uint64_t perms = (e.hi >> raw::perm_shift(a.ctx.vmpl.value)) & perm::kAll;
  const uint64_t need = a.type == AccessType::kRead    ? perm::kRead
                        : a.type == AccessType::kWrite ? perm::kWrite
                        : a.user                       ? perm::kUserExec
                                                       : perm::kSupervisorExec;
  const bool vmsa_write = (e.lo & raw::kVmsa) != 0 && a.type == AccessType::kWrite;  // UNCONFIRMED
  return (perms & need) != 0 && !vmsa_write;
}
}  // namespace detail

inline AccessResult check_guest_access(const Rmp& rmp, const GuestAccess& a) {
  const std::optional<RawRmpEntry> r = rmp.lookup(pfn_of(a.hpa));
  if (a.c_bit) {
    if (detail::private_access_allowed(a, r.value_or(RawRmpEntry{}))) [[likely]] {
      return {RmpCheck::kGuestPrivate, std::nullopt};
    }
  } else if ((!r || (r->lo & raw::kAssigned) == 0) && !rmp.is_rmp_page(pfn_of(a.hpa))) [[likely]] {
    // The shared rule's common outcome (check_guest_access_rules: refused only for an assigned
    // entry or an RMP page): every access of a guest that is not SNP takes this path.
    return {RmpCheck::kGuestShared, std::nullopt};
  }
  return detail::check_guest_access_rules(rmp, a);
}

}  // namespace snpemu::rmp
