// emu/hv/hv.h: the KVM-side memory model of one VM (the kernel half of issue 6 item 1).
//
// What KVM keeps per VM for private memory, with KVM's rules and error values:
//   uapi.h                the KVM ABI pieces used here: ioctl argument structs, flags, exit
//                         payloads, NPF error-code bits (constants and plain structs only)
//   kvm_error.cc          KvmErrno, KvmError: the -errno results of the ioctls, as values
//   vm_type.cc            VmType (KVM_X86_*_VM) and the features each type allows
//   memory_attributes.cc  KVM_SET_MEMORY_ATTRIBUTES: checks and the per-GFN attribute store
//   memslots.cc           KVM_SET_USER_MEMORY_REGION2: memslot checks, the slot set
//   page_pool.cc          PagePool: host PFNs handed out from a region of emu/mem Memory
//   guest_memfd.cc        GuestMemfd (KVM_CREATE_GUEST_MEMFD), GmemArchHooks (prepare/invalidate)
//   vm.cc                 Vm: memslots + attributes + the shared and private pools
//   fault.cc              the NPF error code (synthetic bits 48/49) and the faultin decision
//   invariants.cc         Vm::check_invariants: no page lost or double-owned
//   serialize.cc          serialize() of MemoryAttributes, PagePool and Vm (STYLE rule 10)
//   convert.h / .cc       convert_memory, map_gpa_range: private <-> shared conversion of a
//                         range (the VMM's and the in-kernel PSC option's), PscHandling,
//                         RmpUpdateTiming (lazy = KVM's prepare at fault, eager = at PSC)
//
// The SVM side (issue 4 item 7), in sub-headers included at the end of this file:
//   kvm_run.h             KvmRun, the kvm_run exit record; KVM_EXIT_*, KVM_HC_*, KVM_E* values
//   npt.h / npt.cc        Npt: the nested page table built on demand (the Vm's MmuNotifier)
//   exit.h                the exit layer's API, defined in:
//     cpuid_table.cc      CpuidTable (KVM_SET_CPUID2)
//     pio.cc              PioDevices: debug console 0xE9, Uart16550 on COM1
//     guest_access.cc     guest-virtual/physical access for emulation (internal)
//     exit_table.cc       handle_exit(): prologue, handler table, unexpected/invalid exits
//     exit_cpuid.cc, exit_msr.cc, exit_ioio.cc, exit_string_io.cc, exit_npf.cc,
//     exit_vmmcall.cc, exit_misc.cc   one file per handler family
//     completion.cc       complete_userspace_exit(), prepare_vmrun()
//     exit_serialize.cc   serialize() of Npt, CpuidTable, PioDevices/Uart16550, VcpuState
//     vmcb_init.cc        create_permission_maps(), init_vmcb(), init_long_mode_save_area()
//     ghcb_msr.cc         SVM_EXIT_VMGEXIT: the GHCB MSR protocol (SEV-ES / SNP)
//     ghcb_nae.cc         GHCB-page VMGEXIT: map, validate, one handler per NAE event
//     ghcb_guest_request.cc  SNP (EXT_)GUEST_REQUEST through GuestRequestChannel (the AMD-SP)
//     interrupt.cc        KVM_INTERRUPT: queue_external_interrupt, inject_pending_interrupt
//     ghcb_ap_creation.cc SNP AP_CREATION (create, create-on-INIT, destroy) recorded on the target
//     ghcb_io.cc          string IOIO and MMIO through the scratch area; GHCB completions
//     ghcb_psc.cc         page state change (MSR and GHCB forms) as KVM_HC_MAP_GPA_RANGE
//     ghcb_map.cc         the GHCB mapping: response, scratch copy, write-back; SIPI wake-up
//     ghcb_serialize.cc   serialize() of the SEV-ES vCPU state (part of VcpuState's)
//     vmcb_init_sev.cc    init_vmcb_sev_es(), make_initial_vmsa()
//     exit_trap.cc        SEV-ES EFER/CR0/CR4/CR8 write traps
//
// Sources (facts only, no code): Linux virt/kvm/kvm_main.c, virt/kvm/guest_memfd.c,
// arch/x86/kvm/mmu/mmu.c, arch/x86/kvm/svm/svm.c, include/uapi/linux/kvm.h; PLATFORM-FACTS
// sections 4.8, 4.9, 6, 7. Nothing here knows a core or the RMP: the RMP layer attaches through
// GmemArchHooks, the NPT through MmuNotifier and mmu_invalidate_seq(). No global state;
// deterministic.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/serializer.h"
#include "base/types.h"
#include "emu/hv/uapi.h"
#include "emu/mem/memory.h"

namespace snpemu::hv {

// ===================================================================================== kvm_error.cc

/// The errno values KVM's ioctls return (negated) for the rules modelled here.
enum class KvmErrno : uint8_t {
  kEinval,  ///< EINVAL 22: malformed argument
  kEexist,  ///< EEXIST 17: memslot overlaps another slot
  kEbadf,   ///< EBADF 9: guest_memfd handle does not name a guest_memfd
  kEnomem,  ///< ENOMEM 12: a backing pool is exhausted
  kEfault,  ///< EFAULT 14: no backing for the access (e.g. private access to a non-gmem slot)
  kEio,     ///< EIO 5: internal inconsistency KVM would WARN about
  kEfbig,   ///< EFBIG 27: fallocate offset + len beyond the largest file offset
  kE2big,   ///< E2BIG 7: KVM_SET_CPUID2 with more than KVM_MAX_CPUID_ENTRIES entries
  kEbusy,   ///< EBUSY 16: no free ASID for the VM type (sev_asid_new)
};
/// "EINVAL", "EEXIST", ...
const char* errno_name(KvmErrno e);
/// The Linux x86 errno number (22, 17, ...), for traces and KVM-compatible return values.
int errno_value(KvmErrno e);

/// An ioctl failure: the errno KVM returns and one precise line saying which rule failed.
struct KvmError {
  KvmErrno code = KvmErrno::kEinval;
  std::string message{};
  /// "EINVAL: memory_size 0x1001 is not page aligned (kvm_set_memory_region)".
  std::string describe() const;
};
template <class T>
using KvmResult = std::expected<T, KvmError>;

// ======================================================================================= vm_type.cc

/// KVM_CREATE_VM machine types. PLATFORM-FACTS 7.3 [L] arch/x86/include/uapi/asm/kvm.h.
enum class VmType : uint8_t {
  kDefault = 0,      ///< KVM_X86_DEFAULT_VM
  kSwProtected = 1,  ///< KVM_X86_SW_PROTECTED_VM: private memory, no encryption, no RMP
  kSev = 2,          ///< KVM_X86_SEV_VM
  kSevEs = 3,        ///< KVM_X86_SEV_ES_VM
  kSnp = 4,          ///< KVM_X86_SNP_VM
};
inline constexpr uint8_t kVmTypeCount = 5;

/// What a VM type allows. [L] arch/x86/kvm/x86.c kvm_arch_init_vm, svm/sev.c sev_vm_init.
struct VmFeatures {
  bool has_private_mem = false;      ///< kvm->arch.has_private_mem: gmem slots, PRIVATE attribute
  bool has_protected_state = false;  ///< kvm->arch.has_protected_state (SEV-ES, SNP)
  bool memory_encryption = false;    ///< C-bit memory encryption (SEV, SEV-ES, SNP)
  bool rmp = false;                  ///< RMP-checked memory (SNP only)
  bool readonly_memslots = false;    ///< kvm_arch_has_readonly_mem: !has_protected_state
};
VmFeatures vm_features(VmType type);
/// "default", "sw-protected", "sev", "sev-es", "snp".
const char* vm_type_name(VmType type);
/// kvm_supported_mem_attributes(): PRIVATE iff the type has private memory, else 0.
uint64_t supported_memory_attributes(VmType type);

// ============================================================================ memory_attributes.cc

/// A half-open GFN range [start, end).
struct GfnRange {
  Gfn start{};
  Gfn end{};
  uint64_t pages() const { return end.value - start.value; }
  constexpr bool operator==(const GfnRange&) const = default;
};

/// The ioctl's argument checks (kvm_vm_ioctl_set_mem_attributes), in KVM's order: flags != 0,
/// attribute bits outside `supported`, size 0 or address + size wraps, address or size not page
/// aligned: all EINVAL. Returns the GFN range on success.
KvmResult<GfnRange> check_memory_attributes(const KvmMemoryAttributes& args, uint64_t supported);

/// One stored run of GFNs with the same non-zero attributes.
struct AttributeRun {
  GfnRange range{};
  uint64_t attributes = 0;
  constexpr bool operator==(const AttributeRun&) const = default;
};

/// Per-VM attributes of every GFN (kvm->mem_attr_array). Stored as an ordered map of disjoint,
/// coalesced runs with non-zero attributes (a GFN absent from every run has attributes 0, as an
/// empty xarray slot), so a terabyte of uniformly private memory is one node.
class MemoryAttributes {
 public:
  /// `supported` is kvm_supported_mem_attributes() of the VM (queries mask with it).
  explicit MemoryAttributes(uint64_t supported) : supported_(supported) {}

  /// kvm_get_memory_attributes(gfn).
  uint64_t get(Gfn gfn) const;
  /// kvm_range_has_memory_attributes(start, end, mask, attrs): true iff every GFN in
  /// [start, end) has (attributes & mask) == attrs, with mask first reduced to the supported
  /// set and false if attrs has bits outside mask. An empty range is true.
  bool range_has(Gfn start, Gfn end, uint64_t mask, uint64_t attrs) const;
  /// kvm_mem_is_private(gfn).
  bool is_private(Gfn gfn) const { return (get(gfn) & kKvmMemoryAttributePrivate) != 0; }
  /// Sets [range) to `attributes` all at once (the range must be non-empty and already
  /// checked). Returns false, changing nothing, if the range already has them (KVM's no-op).
  bool set(GfnRange range, uint64_t attributes);
  /// Number of stored runs (nodes of the ordered map).
  size_t node_count() const { return runs_.size(); }
  /// The stored runs in ascending GFN order.
  std::vector<AttributeRun> runs() const;
  /// Writes or restores the runs (serialize.cc); reading rejects unsorted, overlapping,
  /// uncoalesced, empty or unsupported runs, naming the field.
  void serialize(Serializer& s);

 private:
  struct Run {
    uint64_t end;
    uint64_t attributes;
  };
  std::map<uint64_t, Run> runs_;  // start GFN -> run; disjoint, coalesced, attributes != 0
  uint64_t supported_;
};

// ====================================================================================== memslots.cc

/// A slot's binding to a guest_memfd: file handle and first page index (slot->gmem.pgoff).
struct GmemBinding {
  uint32_t guest_memfd = 0;
  uint64_t pgoff = 0;
};

/// One installed memslot (struct kvm_memory_slot, the fields this model needs).
struct Memslot {
  uint16_t id = 0;
  uint32_t flags = 0;
  Gfn base_gfn{};
  uint64_t npages = 0;
  uint64_t userspace_addr = 0;
  std::optional<GmemBinding> gmem{};
  bool contains(Gfn gfn) const { return gfn.value - base_gfn.value < npages; }
  Gfn end_gfn() const { return Gfn{base_gfn.value + npages}; }
  /// The VMM address backing `gfn` (must be inside the slot).
  uint64_t hva_of(Gfn gfn) const { return userspace_addr + ((gfn.value - base_gfn.value) << kPageShift); }
  /// The guest_memfd page index of `gfn` (kvm_gmem_get_index); slot must have gmem.
  uint64_t gmem_index_of(Gfn gfn) const { return gfn.value - base_gfn.value + gmem->pgoff; }
};

/// What a successful KVM_SET_USER_MEMORY_REGION2 did (enum kvm_mr_change, plus "nothing").
enum class MemslotChange : uint8_t { kCreate, kDelete, kMove, kFlagsOnly, kNone };
const char* memslot_change_name(MemslotChange c);

/// The checks of kvm_vm_ioctl_set_memory_region / check_memory_region_flags /
/// kvm_set_memory_region that need no slot state, in KVM's order (all EINVAL).
KvmResult<void> check_memory_region(const KvmUserspaceMemoryRegion2& mem, const VmFeatures& vm);

/// The VM's memslots (address space 0), ordered by GFN, with lookups by GFN and by id.
class Memslots {
 public:
  /// The slot containing `gfn`, or nullptr (__gfn_to_memslot).
  const Memslot* find(Gfn gfn) const;
  /// The slot with id `id`, or nullptr (id_to_memslot).
  const Memslot* by_id(uint16_t id) const;
  /// kvm_check_memslot_overlap: does any slot other than `id` intersect [start, end)?
  bool overlaps(uint16_t id, Gfn start, Gfn end) const;
  /// Slots intersecting [start, end), ascending.
  std::vector<const Memslot*> in_range(Gfn start, Gfn end) const;
  /// All slots, ascending by GFN.
  std::vector<const Memslot*> all() const;
  size_t size() const { return by_gfn_.size(); }

  /// Installs `slot` (replacing any slot with the same id). No checks: Vm does them.
  void install(const Memslot& slot);
  /// Removes the slot with id `id` if present.
  void remove(uint16_t id);

 private:
  std::map<uint64_t, Memslot> by_gfn_;  // base GFN -> slot
  std::map<uint16_t, uint64_t> ids_;    // id -> base GFN
};

// ===================================================================================== page_pool.cc

/// A pool of host pages carved from a region of Memory [first, first + count): the backing of
/// one kind of guest memory. Allocation takes the lowest freed PFN first, else the next never
/// used PFN (an explicit, ordered free list: deterministic). Pages are zeroed when handed out
/// and when freed, so freed data never leaks into the next owner.
class PagePool {
 public:
  /// Fails with EINVAL if the region is not inside `memory`. An empty pool (count 0) is valid.
  static KvmResult<PagePool> create(Memory& memory, Pfn first, uint64_t count, std::string name);

  /// A zeroed page, or nullopt if the pool is exhausted.
  std::optional<Pfn> allocate();
  /// Zeroes `pfn` and returns it to the free list. False (nothing done) if the PFN is not in
  /// this pool or not allocated: a caller bug the owner must report.
  bool free(Pfn pfn);
  /// True if `pfn` lies in this pool's region.
  bool owns(Pfn pfn) const { return pfn.value - first_.value < count_; }
  /// True if `pfn` is currently handed out.
  bool allocated(Pfn pfn) const;
  uint64_t capacity() const { return count_; }
  uint64_t in_use() const { return next_ - free_.size(); }
  Pfn first() const { return first_; }
  const std::string& name() const { return name_; }
  /// Writes or restores the allocation state (serialize.cc); the region itself is configuration
  /// and must match. Reading rejects free offsets at or beyond the high-water mark.
  void serialize(Serializer& s);

 private:
  PagePool(Memory& memory, Pfn first, uint64_t count, std::string name)
      : memory_(&memory), first_(first), count_(count), name_(std::move(name)) {}
  void zero(Pfn pfn);

  Memory* memory_;
  Pfn first_{};
  uint64_t count_;
  uint64_t next_ = 0;            // pages [0, next_) have been handed out at least once
  std::set<uint64_t> free_;      // freed offsets below next_, lowest reused first
  std::string name_{};
};

// =================================================================================== guest_memfd.cc

/// The architecture hooks of guest_memfd: the RMP layer implements them for SNP
/// (sev_gmem_prepare / sev_gmem_invalidate, PLATFORM-FACTS 4.9). Vm calls them exactly at
/// KVM's points; an implementation must not call back into the Vm.
class GmemArchHooks {
 public:
  virtual ~GmemArchHooks() = default;
  /// kvm_arch_gmem_prepare(kvm, gfn, pfn, order): a private backing page was allocated on its
  /// first fault and is about to be mapped at `gfn`. Called once per backing page (again only
  /// if it failed; upstream calls it on every fault and relies on idempotence). A failure makes
  /// the fault a KVM_EXIT_MEMORY_FAULT with the error.
  virtual KvmResult<void> gmem_prepare(Gfn gfn, Pfn pfn, unsigned order) = 0;
  /// kvm_arch_gmem_invalidate(start, end): backing pages [start, end) are being freed (punch
  /// hole, e.g. after a conversion to shared). Called once per freed backing page.
  virtual void gmem_invalidate(Pfn start, Pfn end) = 0;
};

/// One guest_memfd instance: its size, memslot bindings and allocated pages (order 0 only, as
/// upstream guest_memfd: kvm_gmem_get_folio WARNs on large folios).
class GuestMemfd {
 public:
  GuestMemfd(uint64_t size, uint64_t flags) : size_(size), flags_(flags) {}
  struct Page {
    Pfn pfn{};
    bool prepared = false;  ///< gmem_prepare succeeded (the folio is "up to date")
  };
  uint64_t size() const { return size_; }
  uint64_t flags() const { return flags_; }
  /// The page at `index`, or nullptr if not allocated.
  const Page* page(uint64_t index) const;
  size_t allocated_pages() const { return pages_.size(); }
  /// The slot bound at `index`, or nullopt.
  std::optional<uint16_t> binding(uint64_t index) const;

 private:
  friend class Vm;
  struct Binding {
    uint64_t end;
    uint16_t slot_id;
  };
  uint64_t size_;
  uint64_t flags_;
  std::map<uint64_t, Binding> bindings_;  // first index -> [first, end) bound to a slot
  std::map<uint64_t, Page> pages_;        // index -> backing page
};

// ============================================================================================= fault.cc

/// Where the hypervisor model takes "this fault was a private access" from (an option users
/// compare): the GFN's memory attributes (KVM's SW-protected VMs, kvm_mmu_page_fault) or the
/// hardware's encryption bit 34 in the NPF error code (KVM's SNP path, npf_interception).
enum class PrivateFaultSource : uint8_t { kAttributes, kHardwareEncBit };
const char* private_fault_source_name(PrivateFaultSource s);

/// The error code KVM's MMU sees for one #NPF, and whether "hardware" supplied synthetic bits.
struct NpfErrorCode {
  uint64_t error_code = 0;          ///< synthetic bits cleared, then PRIVATE_ACCESS per source
  bool had_synthetic_bits = false;  ///< exit_info_1 carried bit 48/49: KVM WARNs once, clears
};
/// Pure: clears bits 48/49 if `exit_info_1` has them, then sets bit 49 per `source`:
/// kHardwareEncBit -> iff bit 34 (ENC) is set; kAttributes -> iff the fault is not a RSVD (MMIO)
/// fault and `gfn_attr_private`. [L] svm.c npf_interception, mmu.c kvm_mmu_page_fault.
NpfErrorCode npf_error_code(uint64_t exit_info_1, PrivateFaultSource source, bool gfn_attr_private);

/// A WARN_ON_ONCE owned by its VM: counts every event, reports only the first.
struct WarnOnce {
  bool warned = false;
  uint64_t count = 0;
  /// Records one event; true only the first time (the moment KVM would print the warning).
  bool fire() {
    ++count;
    if (warned) return false;
    warned = true;
    return true;
  }
};

/// One fault as KVM's MMU sees it (struct kvm_page_fault, the inputs used here).
struct FaultRequest {
  Gpa gpa{};
  bool is_private = false;  ///< error_code & PFERR_PRIVATE_ACCESS
  bool write = false;
  bool exec = false;
};

/// What kvm_mmu_faultin_pfn decided.
struct FaultOutcome {
  enum class Kind : uint8_t {
    kMap,              ///< map `pfn` at the GFN
    kMemoryFaultExit,  ///< KVM_RUN returns -EFAULT with KVM_EXIT_MEMORY_FAULT
    kEmulateMmio,      ///< no memslot (shared access), write to a read-only slot, RSVD fault
  };
  enum class MmioReason : uint8_t { kNone, kNoSlot, kReadonlyWrite, kReservedBit };
  Kind kind = Kind::kEmulateMmio;
  // kMap
  Pfn pfn{};
  bool private_backing = false;  ///< pfn comes from the guest_memfd (private) pool
  bool writable = false;
  bool prepared_now = false;  ///< this fault allocated the private page and ran gmem_prepare
  // kMemoryFaultExit
  KvmMemoryFault memory_fault{};
  KvmErrno error = KvmErrno::kEfault;  ///< what KVM_RUN returns (EFAULT, or the gmem error)
  std::string why{};                     ///< which rule produced the exit
  // kEmulateMmio
  MmioReason mmio = MmioReason::kNone;
};
const char* fault_kind_name(FaultOutcome::Kind k);

/// The result of Vm::handle_npf: the error code KVM derived and the decision.
struct NpfResult {
  NpfErrorCode error_code{};
  bool warned_now = false;  ///< the VM's synthetic-bit WarnOnce fired for this fault
  FaultOutcome outcome{};
};

// ============================================================================================== vm.cc

/// Receives the GFN ranges whose mappings must be zapped (KVM's mmu notifier /
/// kvm_mmu_invalidate_range_add + kvm_unmap_gfn_range). The NPT (npt.h) implements it. Called
/// after mmu_invalidate_seq() moved to `seq`; an implementation must not call back into the Vm.
class MmuNotifier {
 public:
  virtual ~MmuNotifier() = default;
  virtual void invalidate_gfn_range(GfnRange range, uint64_t seq) = 0;
};

/// How a Vm is built: its type, the host regions of its two pools, and the arch hooks.
struct VmConfig {
  VmType type = VmType::kDefault;
  Pfn shared_pool_first{};  ///< the VMM's ordinary memory (memslot userspace_addr backing)
  uint64_t shared_pool_pages = 0;
  Pfn private_pool_first{};  ///< guest_memfd memory (unused unless the type has private memory)
  uint64_t private_pool_pages = 0;
  GmemArchHooks* hooks = nullptr;  ///< not owned; nullptr = no arch work (default, SW-protected)
};

/// The memory side of one KVM VM. Owns no Memory: pools hand out PFNs of the Memory given.
class Vm {
 public:
  /// Fails (EINVAL) if a pool region is outside `memory`, the two regions overlap, or a type
  /// without private memory is given a private pool.
  static KvmResult<std::unique_ptr<Vm>> create(Memory& memory, const VmConfig& config);

  VmType type() const { return type_; }
  const VmFeatures& features() const { return features_; }

  /// KVM_CREATE_GUEST_MEMFD (kvm_gmem_create): flags must be 0 here, size > 0 and page
  /// aligned, else EINVAL. Returns the handle used as guest_memfd in a memslot.
  KvmResult<uint32_t> create_guest_memfd(const KvmCreateGuestMemfd& args);
  /// The guest_memfd with handle `fd`, or nullptr.
  const GuestMemfd* guest_memfd(uint32_t fd) const;

  /// KVM_SET_USER_MEMORY_REGION2 (kvm_set_memory_region + kvm_gmem_bind): create, delete,
  /// move or change flags of a slot, with KVM's errors. Deleting or moving a slot zaps its
  /// mappings; deleting a gmem slot unbinds it (the gmem pages stay, as in KVM).
  KvmResult<MemslotChange> set_user_memory_region(const KvmUserspaceMemoryRegion2& mem);
  const Memslots& memslots() const { return memslots_; }

  /// KVM_SET_MEMORY_ATTRIBUTES: checks, then the atomic update. Returns whether anything
  /// changed (false = the range already had the attributes: no zap). Does not free backing:
  /// discarding the old side is the VMM's job (emu/vmm), as in KVM.
  KvmResult<bool> set_memory_attributes(const KvmMemoryAttributes& args);
  const MemoryAttributes& attributes() const { return attributes_; }
  /// kvm_mem_is_private(gfn).
  bool mem_is_private(Gfn gfn) const { return attributes_.is_private(gfn); }

  /// fallocate(guest_memfd, PUNCH_HOLE | KEEP_SIZE, offset, len) (kvm_gmem_punch_hole): offset
  /// and len page aligned, len > 0 (EINVAL), fd known (EBADF). Zaps the bound GFNs, frees the
  /// backing pages in range (gmem_invalidate once per page). Returns pages freed.
  KvmResult<uint64_t> gmem_punch_hole(uint32_t fd, uint64_t offset, uint64_t len);

  /// kvm_gmem_populate for one GFN (the SNP LAUNCH_UPDATE path): the GFN's slot must have a
  /// guest_memfd (EINVAL); the backing page is allocated if needed (ENOMEM); the GFN must be
  /// private (EINVAL, after the allocation, as in KVM); then `post_populate(gfn, pfn)` runs
  /// (the firmware's LAUNCH_UPDATE with its RMPUPDATE) and on success the page counts as
  /// prepared, so its first fault does not call gmem_prepare. Returns the PFN.
  KvmResult<Pfn> gmem_populate(Gfn gfn,
                               const std::function<KvmResult<void>(Gfn, Pfn)>& post_populate);
  /// The private-fault path of one GFN without a fault (convert.cc; the eager RMP option): the
  /// GFN must be private in a guest_memfd slot (EINVAL); allocates its guest_memfd page if
  /// needed (ENOMEM) and runs gmem_prepare unless the page is prepared (the hook's error).
  /// Returns true if gmem_prepare ran now, so the page's first fault will not run it.
  KvmResult<bool> gmem_prepare_gfn(Gfn gfn);

  /// The VMM side of shared memory: the page backing VMM address `hva`, allocated (zeroed) on
  /// first use like anonymous memory. ENOMEM if the shared pool is exhausted.
  KvmResult<Pfn> shared_page(uint64_t hva);
  /// The page backing `hva` if one is allocated.
  std::optional<Pfn> shared_page_if_present(uint64_t hva) const;
  /// madvise(MADV_DONTNEED)/punch hole on the VMM's memory [hva, hva + len): frees (zeroes) the
  /// backing pages and zaps the GFNs that map them. Returns pages freed.
  uint64_t discard_shared(uint64_t hva, uint64_t len);

  /// The shared backing of `gfn` through its memslot, if the slot exists and a page is present.
  std::optional<Pfn> shared_backing(Gfn gfn) const;
  /// The private (guest_memfd) backing of `gfn` through its memslot, if allocated.
  std::optional<Pfn> private_backing(Gfn gfn) const;

  /// kvm_mmu_faultin_pfn for one fault (see fault.cc): the PFN to map, a memory-fault exit, or
  /// the MMIO path. May allocate a shared page or a private page (then gmem_prepare).
  FaultOutcome faultin(const FaultRequest& fault);
  /// The #NPF path: npf_error_code (warning once per VM on synthetic bits), then faultin with
  /// write = bit 1, exec = bit 4, is_private = bit 49.
  NpfResult handle_npf(uint64_t exit_info_1, Gpa gpa, PrivateFaultSource source);

  /// Bumped whenever mappings must be zapped (attribute change, slot delete/move, punch hole,
  /// shared discard): an NPT cache compares it (kvm->mmu_invalidate_seq).
  uint64_t mmu_invalidate_seq() const { return mmu_invalidate_seq_; }
  /// Installs the receiver of zapped GFN ranges (not owned; nullptr removes it). One per VM.
  void set_mmu_notifier(MmuNotifier* notifier) { notifier_ = notifier; }
  /// The WARN_ON_ONCE for synthetic bits from hardware.
  const WarnOnce& synthetic_bit_warning() const { return synthetic_warning_; }
  const PagePool& shared_pool() const { return shared_pool_; }
  const PagePool& private_pool() const { return private_pool_; }

  /// Checks the bookkeeping (invariants.cc): every backing page is allocated in its pool and
  /// owned exactly once (no page lost or double-owned), pool counts match, attribute runs are
  /// sorted, disjoint, coalesced and supported, and gmem bindings match the memslots. EIO with
  /// the first violation otherwise. For tests and fuzzers after every request.
  KvmResult<void> check_invariants() const;
  /// Writes or restores the VM's memory state (serialize.cc): guest_memfds, memslots,
  /// attributes, both pools, shared pages, mmu_invalidate_seq, the warning. Restoring needs a
  /// fresh Vm created with the same VmConfig; a type mismatch or a state failing
  /// check_invariants is reported through the Serializer with the field name; after a failed
  /// restore the Vm is partly loaded and must be discarded.
  void serialize(Serializer& s);

 private:
  Vm(VmType type, PagePool shared, PagePool priv, GmemArchHooks* hooks);
  KvmResult<void> gmem_bind(Memslot& slot, uint32_t fd, uint64_t offset);
  void gmem_unbind(const Memslot& slot);
  // One invalidation: bumps mmu_invalidate_seq once, then tells the notifier every range.
  void zap(std::initializer_list<GfnRange> ranges) { zap(std::vector<GfnRange>(ranges)); }
  void zap(const std::vector<GfnRange>& ranges);
  FaultOutcome faultin_private(const Memslot& slot, const FaultRequest& fault);
  struct PreparedPage {
    Pfn pfn{};
    bool prepared_now = false;
  };
  // kvm_gmem_get_pfn for `gfn` in `slot` (which has a guest_memfd): binding check (EIO), the
  // page allocated if needed (ENOMEM), gmem_prepare unless prepared (fault.cc).
  KvmResult<PreparedPage> gmem_get_prepared(const Memslot& slot, Gfn gfn);
  FaultOutcome faultin_shared(const Memslot& slot, const FaultRequest& fault);

  VmType type_;
  VmFeatures features_;
  Memslots memslots_;
  MemoryAttributes attributes_;
  PagePool shared_pool_;
  PagePool private_pool_;
  GmemArchHooks* hooks_;
  std::vector<std::unique_ptr<GuestMemfd>> gmems_;  // handle = index + 1
  std::map<uint64_t, Pfn> shared_pages_;            // VMM page address -> backing page
  uint64_t mmu_invalidate_seq_ = 0;
  WarnOnce synthetic_warning_;
  MmuNotifier* notifier_ = nullptr;
};

}  // namespace snpemu::hv

// The SVM side (see the table of contents): after the declarations above, which they use.
#include "emu/hv/kvm_run.h"  // IWYU pragma: export
#include "emu/hv/npt.h"      // IWYU pragma: export
#include "emu/hv/convert.h"  // IWYU pragma: export
#include "emu/hv/exit.h"     // IWYU pragma: export
