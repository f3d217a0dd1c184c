// mmu/mmu.h: address translation for one core: the long-mode guest page walk, the nested (NPT)
// walk, and the per-core TLB. Pure functions over an injected table-access interface: the MMU
// knows Memory, never a core or a hypervisor. Faults are returned values (never exceptions);
// which exception a core raises (#PF, #GP/#SS for non-canonical, #VMEXIT(NPF)) is its decision.
//
// clang-format off
// Table of contents (declarations grouped by the file that defines them):
//   mmu.h            vocabulary: accesses, paging registers, translations, faults, error codes
//   table_access.cc  TableAccess interface; FlatTableAccess over Memory
//   walk.cc          walk(), check_rights(), is_canonical(): the long-mode guest page walk
//                    (APM vol 2, 5.3-5.6)
//   nested.cc        nested_walk(), NestedTableAccess, translate_nested(): the NPT walk and the
//                    2-D walk (APM vol 2, 15.25)
//   tlb.cc           Tlb (per core, (ASID, PCID)-tagged, set-associative) and translate(), the
//                    step a core calls for every access
// clang-format on
//
// Addresses are plain uint64_t inside the MMU because the same walk runs over host-physical
// tables (host paging, the NPT) and guest-physical tables (a guest walk); the doc comment of each
// function says which space an address is in.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>

#include "base/serializer.h"
#include "base/types.h"
#include "emu/mem/memory.h"

namespace snpemu::mmu {

// ---------------------------------------------------------------------------------------------
// Vocabulary (mmu.h)
// ---------------------------------------------------------------------------------------------

/// What the access does to the final page.
enum class AccessKind : uint8_t { kRead, kWrite, kFetch };

/// One memory access as the walk sees it.
struct Access {
  AccessKind kind = AccessKind::kRead;
  /// Current privilege level 0..3; 3 is user mode (APM vol 2, 5.6).
  uint8_t cpl = 0;
  /// Implicit supervisor access (GDT/LDT/IDT/TSS reads, ...): checked as a supervisor access
  /// at any CPL, and SMAP applies regardless of RFLAGS.AC (APM vol 2, 5.6).
  bool implicit_supervisor = false;

  /// True if the access is checked with user-mode rights.
  constexpr bool is_user() const { return cpl == 3 && !implicit_supervisor; }
};

/// The control-register state the walk reads. The core passes its live registers.
struct PagingRegs {
  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;
  uint64_t rflags = 0;  // only AC (bit 18) is used
  uint32_t pkru = 0;    // used when CR4.PKE = 1
};

// Architectural bit positions used by the walk (APM vol 2, 3.1 and 5.3).
inline constexpr uint64_t kCr0Wp = uint64_t{1} << 16;
inline constexpr uint64_t kCr0Pg = uint64_t{1} << 31;
inline constexpr uint64_t kCr4Pse = uint64_t{1} << 4;
inline constexpr uint64_t kCr4Pae = uint64_t{1} << 5;
inline constexpr uint64_t kCr4Pge = uint64_t{1} << 7;
inline constexpr uint64_t kCr4La57 = uint64_t{1} << 12;
inline constexpr uint64_t kCr4Pcide = uint64_t{1} << 17;
inline constexpr uint64_t kCr4Smep = uint64_t{1} << 20;
inline constexpr uint64_t kCr4Smap = uint64_t{1} << 21;
inline constexpr uint64_t kCr4Pke = uint64_t{1} << 22;
inline constexpr uint64_t kEferNxe = uint64_t{1} << 11;
inline constexpr uint64_t kRflagsAc = uint64_t{1} << 18;

/// CR4 bits whose change makes the core call Tlb::flush_all() (global entries included).
/// APM vol 2, 5.5.3: changing CR4.PGE, CR4.PAE or CR4.PSE flushes all TLB entries; LA57 can only
/// change with paging off; PCIDE 1->0 flushes all PCIDs. The core also calls flush_all() when
/// CR0.PG changes and when EFER.NXE changes (cached `executable` was computed under the old NXE).
/// SMEP/SMAP/PKE/CR0.WP and RFLAGS.AC need no flush: the TLB caches the raw effective rights
/// and check_rights() re-applies the current CR0.WP/CR4.SMEP/SMAP/PKE/AC/PKRU on every hit.
/// MOV CR3 calls flush_non_global() (unless CR4.PCIDE=1 and CR3 bit 63 is set); INVLPG calls
/// flush_page(); VMRUN with TLB_CONTROL calls flush_all() or flush_asid().
/// UNCONFIRMED: whether AMD also flushes on SMEP/SMAP changes (harmless to flush more).
inline constexpr uint64_t kCr4FlushAllMask = kCr4Pse | kCr4Pae | kCr4Pge | kCr4La57 | kCr4Pcide;

// Page-table entry bits (APM vol 2, 5.4.1 and 5.3.3).
inline constexpr uint64_t kPteP = uint64_t{1} << 0;
inline constexpr uint64_t kPteRw = uint64_t{1} << 1;
inline constexpr uint64_t kPteUs = uint64_t{1} << 2;
inline constexpr uint64_t kPtePwt = uint64_t{1} << 3;
inline constexpr uint64_t kPtePcd = uint64_t{1} << 4;
inline constexpr uint64_t kPteA = uint64_t{1} << 5;
inline constexpr uint64_t kPteD = uint64_t{1} << 6;
inline constexpr uint64_t kPtePs = uint64_t{1} << 7;
inline constexpr uint64_t kPteG = uint64_t{1} << 8;
inline constexpr uint64_t kPteNx = uint64_t{1} << 63;

/// Architectural #PF error code bits (APM vol 2, 8.4.2; PLATFORM-FACTS 4.7 [L] trap_pf.h).
inline constexpr uint64_t kPfP = uint64_t{1} << 0;     // 0: not present, 1: protection/rsvd
inline constexpr uint64_t kPfW = uint64_t{1} << 1;     // write access
inline constexpr uint64_t kPfU = uint64_t{1} << 2;     // user-mode access
inline constexpr uint64_t kPfRsvd = uint64_t{1} << 3;  // reserved bit set in an entry
inline constexpr uint64_t kPfId = uint64_t{1} << 4;    // instruction fetch (see walk.cc rule)
inline constexpr uint64_t kPfPk = uint64_t{1} << 5;    // protection-key violation

/// NPF error code bits in exit_info_1 (PLATFORM-FACTS 4.8 [L] kvm_host.h).
inline constexpr uint64_t kNpfPresent = uint64_t{1} << 0;
inline constexpr uint64_t kNpfWrite = uint64_t{1} << 1;
inline constexpr uint64_t kNpfUser = uint64_t{1} << 2;
inline constexpr uint64_t kNpfRsvd = uint64_t{1} << 3;
inline constexpr uint64_t kNpfFetch = uint64_t{1} << 4;
inline constexpr uint64_t kNpfGuestFinal = uint64_t{1} << 32;
inline constexpr uint64_t kNpfGuestPage = uint64_t{1} << 33;
inline constexpr uint64_t kNpfEnc = uint64_t{1} << 34;  // the access was encrypted (C-bit)

/// Page sizes a leaf entry can map.
enum class PageSize : uint8_t { k4K = 0, k2M = 1, k1G = 2 };
constexpr uint64_t page_bytes(PageSize s) { return uint64_t{1} << (12 + 9 * static_cast<int>(s)); }

/// CPU-profile facts the walk needs (CPUID-derived; fixed for a machine).
struct PagingConfig {
  /// C-bit position from CPUID 0x8000_001F EBX (bits 5:0; PLATFORM-FACTS 0 [L]).
  static constexpr uint8_t c_bit_from_cpuid(uint32_t ebx) { return ebx & 0x3F; }

  /// Physical-address width: CPUID 0x8000_0008 EAX[7:0], minus the SEV reduction for a guest.
  /// Address bits [51:maxphyaddr] of an entry are reserved (APM vol 2, 5.3.1). 32..52.
  uint8_t maxphyaddr = 52;
  /// C-bit position (CPUID 0x8000_001F EBX[5:0], PLATFORM-FACTS 0 [L]); 0 = no memory
  /// encryption. The C-bit is not a reserved bit and is stripped from the output address.
  uint8_t c_bit = 0;
  /// CPUID 0x8000_0001 EDX[26] Page1GB: if false, PS=1 in a PDPE is a reserved-bit fault.
  bool gbpages = true;
  /// Policy: also set #PF error-code I/D on fetches when CR4.SMEP=1 and EFER.NXE=0. False
  /// follows the APM vol 2, 8.4.2 text (I/D defined only with EFER.NXE=1); true follows the
  /// Intel SDM 4.7 and QEMU [3P]. UNCONFIRMED which one AMD silicon does.
  bool id_bit_with_smep = false;
};

/// A successful translation of one linear address.
struct Translation {
  /// Output address of the accessed byte (guest-physical for a guest walk, host-physical for
  /// host paging or a nested walk); the C-bit is stripped.
  uint64_t pa = 0;
  PageSize size = PageSize::k4K;
  bool writable = false;    // R/W=1 at every level
  bool user = false;        // U/S=1 at every level
  bool executable = false;  // NX=0 at every level, or EFER.NXE=0
  bool global = false;      // G of the leaf
  bool dirty = false;       // D of the leaf after this access (true after any write)
  bool encrypted = false;   // C-bit of the leaf (PagingConfig::c_bit != 0)
  uint8_t pkey = 0;         // leaf bits 62:59 when CR4.PKE=1, else 0
  /// 2-D translations only: the guest-physical address of the accessed byte and the page size
  /// of the NPT leaf that maps it (the RMP checks need both). 0 / k4K otherwise.
  uint64_t gpa = 0;
  PageSize nested_size = PageSize::k4K;

  /// First byte of the page that holds `pa`.
  constexpr uint64_t page_base() const { return pa & ~(page_bytes(size) - 1); }
};

/// Why a translation failed. A returned value; the core turns it into an exception or exit.
struct Fault {
  enum class Kind : uint8_t {
    /// #PF: error_code = architectural error code, address = faulting linear address (CR2).
    kPageFault,
    /// The linear address is not canonical: address = the linear address; the core raises
    /// #GP or #SS (APM vol 2, 5.3.1). No table was read.
    kNonCanonical,
    /// NPF during a nested walk: error_code = exit_info_1, address = exit_info_2 (the GPA).
    kNestedPageFault,
    /// A table entry lies outside RAM: address = its physical address. No architectural
    /// equivalent modelled; the core decides (e.g. machine check or shutdown).
    kBadTableAddress,
    /// #VC in the guest raised by a check on a guest table access (an SNP guest's private access
    /// to an unvalidated page): error_code = the #VC error code, address = the GPA.
    kVmmCommunication,
  };
  Kind kind = Kind::kPageFault;
  uint64_t error_code = 0;
  uint64_t address = 0;
  constexpr bool operator==(const Fault&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Table access (table_access.cc)
// ---------------------------------------------------------------------------------------------

/// How the walk reads and updates page-table entries. Every entry access of a walk goes through
/// this, so a nested implementation can translate each one through the NPT (the 2-D walk).
class TableAccess {
 public:
  virtual ~TableAccess() = default;
  /// Reads the 8-byte entry at `entry_pa` (the walk's input physical space).
  virtual std::expected<uint64_t, Fault> read_entry(uint64_t entry_pa) = 0;
  /// ORs `bits` (Accessed and/or Dirty) into the entry at `entry_pa`, as the processor's locked
  /// read-modify-write does (APM vol 2, 5.4.2).
  virtual std::expected<void, Fault> set_bits(uint64_t entry_pa, uint64_t bits) = 0;
};

/// Entries read directly from Memory: host paging, or a guest walk without nested paging.
/// Counts entry reads and A/D writes so the core can charge walk steps from the timing table
/// (read the counters before and after a translation).
class FlatTableAccess final : public TableAccess {
 public:
  explicit FlatTableAccess(Memory& memory) : memory_(memory) {}
  std::expected<uint64_t, Fault> read_entry(uint64_t entry_pa) override;
  std::expected<void, Fault> set_bits(uint64_t entry_pa, uint64_t bits) override;
  /// Entries read so far.
  uint64_t entry_reads() const { return reads_; }
  /// A/D read-modify-writes so far.
  uint64_t entry_writes() const { return writes_; }

 private:
  Memory& memory_;
  uint64_t reads_ = 0;
  uint64_t writes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Guest page walk (walk.cc)
// ---------------------------------------------------------------------------------------------

/// True if `linear` is canonical: bits 63:47 (63:56 when `la57`) all equal (APM vol 2, 5.3.1).
constexpr bool is_canonical(uint64_t linear, bool la57) {
  const int shift = la57 ? 56 : 47;
  const uint64_t top = linear >> shift;
  return top == 0 || top == (~uint64_t{0} >> shift);
}

/// Long-mode page walk (4-level, or 5-level when CR4.LA57) of `linear` for `access`, reading
/// entries through `tables` starting at CR3. On success sets Accessed in every entry walked and
/// Dirty in the leaf for a write (only entries whose bit is still clear are written), and
/// returns the translation. On any fault nothing is written. The caller guarantees long mode
/// (CR0.PG, CR4.PAE, EFER.LMA). One call translates one page: the core splits an access that
/// crosses a page boundary into two translations (both must succeed before either is performed).
std::expected<Translation, Fault> walk(TableAccess& tables, const PagingRegs& regs,
                                       const PagingConfig& config, uint64_t linear, Access access);

/// The access-rights part of the walk (U/S, R/W with CR0.WP, NX, SMEP, SMAP with RFLAGS.AC, PKE)
/// applied to an existing translation with the current registers: 0 if allowed, else the #PF
/// error code (P=1). Used on TLB hits.
uint64_t check_rights(const Translation& t, const PagingRegs& regs, const PagingConfig& config,
                      Access access);

// ---------------------------------------------------------------------------------------------
// Nested paging (nested.cc)
// ---------------------------------------------------------------------------------------------

/// Host state that shapes the nested walk. AMD NPT uses the host's long-mode format; every
/// nested access is checked as a user access (APM vol 2, 15.25; corroborated by QEMU's NPT walk
/// [3P], which walks with the user MMU index and sets U in exit_info_1).
struct NestedRegs {
  uint64_t nested_cr3 = 0;  // VMCB nested_cr3 (host-physical root)
  bool la57 = false;        // host CR4.LA57: 5-level NPT
  bool nxe = true;          // host EFER.NXE: NX honoured in NPT entries
};

/// Which part of the 2-D walk a nested translation serves: selects exit_info_1 bit 32 or 33.
enum class NestedStage : uint8_t {
  kGuestFinal,  // the guest's final GPA (bit 32, GUEST_FINAL)
  kGuestPage,   // a guest page-table entry access (bit 33, GUEST_PAGE)
};

/// Walks the NPT for `gpa`. `host_tables` reads host-physical NPT entries (normally a
/// FlatTableAccess). Returns the host-physical translation (its `encrypted` is the NPT leaf's
/// C-bit), or Fault::kNestedPageFault with exit_info_1 (P, W, U=1, RSVD, FETCH, and the stage
/// bit) and exit_info_2 = gpa. Sets NPT Accessed/Dirty bits like walk().
std::expected<Translation, Fault> nested_walk(TableAccess& host_tables, const NestedRegs& regs,
                                              const PagingConfig& host_config, uint64_t gpa,
                                              AccessKind kind, NestedStage stage);

/// Nested paging state for a 2-D translation: where the NPT lives and how to read it.
struct NestedPaging {
  TableAccess* host_tables = nullptr;  // reads host-physical NPT entries (FlatTableAccess)
  NestedRegs regs;
  PagingConfig host_config;
};

/// A check applied to each guest page-table entry access after its NPT translation -- the RMP
/// checks of an SNP guest's table walk (APM vol 2, 15.36.10: the table walk's own accesses are
/// checked; an NPF then carries GUEST_PAGE). Returns a fault to stop the walk.
class EntryAccessCheck {
 public:
  virtual ~EntryAccessCheck() = default;
  /// `nested` is the NPT translation of `entry_gpa`; `write` for an A/D update.
  virtual std::optional<Fault> check(uint64_t entry_gpa, const Translation& nested, bool write) = 0;
};

/// TableAccess for a guest walk under nested paging: each guest-physical entry address is
/// translated through the NPT (stage kGuestPage; reads as reads, A/D updates as writes) and the
/// entry is then read from or written to host memory. Two forms: over Memory (NPT entries and
/// guest entries read directly), or over a caller's host-physical TableAccess (a core's bus),
/// which then reads the NPT entries and the guest entries at their host-physical addresses.
class NestedTableAccess final : public TableAccess {
 public:
  NestedTableAccess(Memory& memory, const NestedRegs& regs, const PagingConfig& host_config)
      : memory_(&memory), own_host_(memory), host_(&own_host_), entries_(&own_host_), regs_(regs),
        host_config_(host_config) {}
  NestedTableAccess(TableAccess& host, const NestedRegs& regs, const PagingConfig& host_config)
      : own_host_(), host_(&host), entries_(&host), regs_(regs), host_config_(host_config) {}
  /// As above, with the guest's own entries read and updated through `guest_entries` at their
  /// host-physical addresses (an SEV guest's tables are private memory: the core decrypts them).
  NestedTableAccess(TableAccess& host, TableAccess& guest_entries, const NestedRegs& regs,
                    const PagingConfig& host_config)
      : own_host_(), host_(&host), entries_(&guest_entries), regs_(regs),
        host_config_(host_config) {}
  /// The nested paging state this access uses, for translate_nested()/translate().
  NestedPaging paging() { return NestedPaging{host_, regs_, host_config_}; }
  /// Applies `check` to every guest entry access (nullptr: none).
  void set_entry_check(EntryAccessCheck* check) { check_ = check; }
  std::expected<uint64_t, Fault> read_entry(uint64_t entry_gpa) override;
  std::expected<void, Fault> set_bits(uint64_t entry_gpa, uint64_t bits) override;
  /// Number of NPT walks performed (for the timing model: one per guest table access).
  uint64_t nested_walks() const { return nested_walks_; }
  /// Memory form: NPT entries read by those walks and by translate_nested()'s final walk through
  /// paging(). (With a caller's TableAccess, that access does the counting.)
  uint64_t host_entry_reads() const { return own_host_.entry_reads(); }

 private:
  // A FlatTableAccess that reads nothing unless constructed over Memory.
  class OwnHost final : public TableAccess {
   public:
    OwnHost() = default;
    explicit OwnHost(Memory& m) : flat_(&m) {}
    std::expected<uint64_t, Fault> read_entry(uint64_t pa) override {
      ++reads_;
      if (flat_ == nullptr) return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, pa});
      auto v = flat_->read64(Hpa{pa});
      if (!v) return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, pa});
      return *v;
    }
    std::expected<void, Fault> set_bits(uint64_t pa, uint64_t bits) override {
      auto v = read_entry(pa);
      if (!v) return std::unexpected(v.error());
      if (!flat_->write64(Hpa{pa}, *v | bits)) {
        return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, pa});
      }
      return {};
    }
    uint64_t entry_reads() const { return reads_; }

   private:
    Memory* flat_ = nullptr;
    uint64_t reads_ = 0;
  };
  Memory* memory_ = nullptr;  // Memory form only
  OwnHost own_host_;
  TableAccess* host_;
  TableAccess* entries_;
  EntryAccessCheck* check_ = nullptr;
  NestedRegs regs_;
  PagingConfig host_config_;
  uint64_t nested_walks_ = 0;
};

/// The full 2-D translation of a guest linear address: the guest walk with `guest_tables`
/// (normally a NestedTableAccess, so every guest table access is itself translated, stage
/// kGuestPage), then nested_walk() of the final GPA (stage kGuestFinal), then the guest A/D
/// updates (none if anything faulted). The result's pa is host-physical, size is the smaller of
/// the two page sizes, writable/executable/dirty are the AND of guest and nested rights, user and
/// pkey are the guest's, `encrypted` is the guest leaf's C-bit. `gpa_out`, if given, receives the
/// final GPA on success.
std::expected<Translation, Fault> translate_nested(
    TableAccess& guest_tables, const NestedPaging& nested, const PagingRegs& guest_regs,
    const PagingConfig& guest_config, uint64_t linear, Access access, uint64_t* gpa_out = nullptr);

// ---------------------------------------------------------------------------------------------
// TLB (tlb.cc)
// ---------------------------------------------------------------------------------------------

/// Per-core TLB: three set-associative arrays (4 KiB, 2 MiB, 1 GiB pages), entries tagged by
/// (ASID, PCID), deterministic round-robin replacement. Caches translations with their raw
/// effective rights; stale entries are used until invalidated, as on hardware (APM vol 2, 5.5).
class Tlb {
 public:
  static constexpr int kWays = 4;
  static constexpr int kSets4K = 256;  // ESTIMATE: sized for speed, not a Zen 4 geometry
  static constexpr int kSets2M = 32;
  static constexpr int kSets1G = 4;

  /// Hit statistics (deterministic; reset by reset_stats()).
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
  };

  /// The cached translation of `linear` in (asid, pcid), with pa for that byte; global entries
  /// match any PCID of the ASID. nullopt on a miss. Counts a hit or a miss.
  std::optional<Translation> lookup(Asid asid, uint16_t pcid, uint64_t linear);
  /// Caches `t` (obtained for `linear`) in (asid, pcid).
  void insert(Asid asid, uint16_t pcid, uint64_t linear, const Translation& t);

  /// Invalidates everything (CR4 changes in kCr4FlushAllMask, TLB_CONTROL flush-all).
  void flush_all();
  /// MOV CR3 (without the PCID no-flush bit): non-global entries of (asid, pcid).
  void flush_non_global(Asid asid, uint16_t pcid);
  /// INVLPG / INVLPGA: entries of `asid` for `pcid` or global whose page (of any size) covers
  /// `linear`.
  void flush_page(Asid asid, uint16_t pcid, uint64_t linear);
  /// INVLPGA (rAX = linear, ECX = ASID): the page in that ASID, in every PCID.
  /// UNCONFIRMED: INVLPGA's treatment of PCIDs; all PCIDs is the safe superset.
  void flush_page_all_pcids(Asid asid, uint64_t linear);
  /// All entries of one ASID, global ones included (TLB_CONTROL flush-this-ASID).
  void flush_asid(Asid asid);
  /// Non-global entries of one ASID, every PCID (TLB_CONTROL flush-this-ASID-local).
  void flush_non_global_asid(Asid asid);

  /// VMCB TLB_CONTROL values (PLATFORM-FACTS 5.1; asm/svm.h [L] TLB_CONTROL_*).
  static constexpr uint8_t kTlbControlDoNothing = 0;
  static constexpr uint8_t kTlbControlFlushAllAsid = 1;
  static constexpr uint8_t kTlbControlFlushAsid = 3;
  static constexpr uint8_t kTlbControlFlushAsidLocal = 7;
  /// The flush VMRUN performs for `tlb_control` with the guest's `asid`: 1 flushes everything,
  /// 3 flush_asid(), 7 flush_non_global_asid(), 0 nothing. Returns false (and flushes nothing)
  /// for any other value; what VMRUN does then is the core's decision (UNCONFIRMED in the APM).
  bool apply_tlb_control(uint8_t tlb_control, Asid asid);

  const Stats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

  /// Symmetric snapshot of every entry, the replacement state and the statistics (STYLE rule
  /// 10). Reading checks the geometry and each field (pkey <= 15, known flag bits, a VPN that
  /// fits its page size) and leaves the TLB unchanged on failure.
  void serialize(Serializer& s);

  /// PCID tag for the current registers: CR3[11:0] when CR4.PCIDE=1, else 0.
  static constexpr uint16_t pcid_of(const PagingRegs& r) {
    return (r.cr4 & kCr4Pcide) ? static_cast<uint16_t>(r.cr3 & 0xFFF) : 0;
  }

 private:
  // 32 bytes. An invalid entry has vpn == kInvalidVpn, which no canonical address produces
  // (linear >> 12 < 2^52), so a lookup compares tags without a separate valid test.
  static constexpr uint64_t kInvalidVpn = ~uint64_t{0};
  enum Flag : uint8_t {
    kWritable = 1,
    kUser = 2,
    kExecutable = 4,
    kGlobal = 8,
    kDirty = 16,
    kEncrypted = 32,
  };
  struct Entry {
    uint64_t vpn = kInvalidVpn;  // linear >> page shift
    uint64_t base = 0;           // output page base
    uint32_t asid = 0;
    uint16_t pcid = 0;
    uint8_t flags = 0;  // Flag bits
    uint8_t pkey = 0;
    uint8_t nested_size = 0;  // PageSize of the NPT leaf (2-D translations)
    uint64_t gpa_base = 0;    // GPA of the page (2-D translations)
  };
  static constexpr int kTotalSets = kSets4K + kSets2M + kSets1G;
  // Sets of the 4 KiB array first, then 2 MiB, then 1 GiB; kWays consecutive entries per set.
  std::array<Entry, kTotalSets * kWays> entries_{};
  std::array<uint8_t, kTotalSets> next_way_{};  // round-robin victim per set
  Stats stats_;
};

/// The core's translate step: TLB lookup in (asid, Tlb::pcid_of(regs)), rights check against
/// the current registers; a hit that fails the check, or a write hit on a clean entry, re-walks
/// (UNCONFIRMED: that AMD re-walks before reporting #PF from a stale, more restrictive entry;
/// Intel allows the spurious fault). A miss walks: walk(), or translate_nested() when `nested` is
/// given (then `tables` is the guest-table access, normally a NestedTableAccess), and fills the
/// TLB on success. `asid` is the current ASID (0 = host).
std::expected<Translation, Fault> translate(Tlb& tlb, TableAccess& tables, const PagingRegs& regs,
                                            const PagingConfig& config, Asid asid, uint64_t linear,
                                            Access access, const NestedPaging* nested = nullptr);

}  // namespace snpemu::mmu
