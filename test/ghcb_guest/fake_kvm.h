// test/ghcb_guest/fake_kvm.h: a fake KVM for the native build of ghcb/guest.
//
// The library's primitives (RDMSR/WRMSR, VMGEXIT, PVALIDATE, RMPADJUST, HLT) call the
// ghcb_native_* hooks; this file implements them on top of the REAL host-side codecs in //ghcb
// (decode_msr_request, encode_msr_response, GhcbSnapshot, validate_vmgexit, kvm_sync_from_ghcb,
// check_scratch_area, parse_psc_desc, psc_scan_*, psc_write_back, write_ghcb_response), so every
// guest call proves that the C guest side and the C++ host side agree on layouts and rules.
//
// Native GPAs are host addresses: the GHCB is a 4 KiB-aligned host buffer whose address is its
// "GPA"; pages converted by PSC are only bookkeeping (never dereferenced), so tests may use any
// GPA for them. The fake keeps a tiny RMP-like page map (private / validated / 2 MiB entry) and
// reports guest mistakes (validating a shared page, converting a validated page to shared, using
// an unregistered GHCB, input KVM would reject) in errors().
//
// The hooks are plain C functions, so the vCPU they act on is found through a thread-local
// pointer installed by FakeKvm::Scope for the duration of a test body.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/hex.h"
#include "ghcb/ghcb.h"
#include "ghcb/guest/ghcb_guest.h"

namespace snpemu::test {

/// Hypervisor behaviour knobs (defaults: upstream KVM with an SNP guest).
struct FakeKvmOptions {
  bool snp = true;
  uint64_t sev_status = 0x7;  ///< SEV | SEV-ES | SEV-SNP
  uint16_t hv_min = 1, hv_max = 2;
  uint8_t c_bit = 51;
  uint16_t sev_info_code = 0x001;  ///< answer code for SEV_INFO (bad value to test the check)
  uint64_t hv_features = ghcb::kHvFtKvmSupported;
  std::optional<uint64_t> reg_gpa_echo;  ///< answer REG_GPA with this GFN instead of the echo
  unsigned ap_hold_spurious = 1;         ///< spurious wake-ups before the SIPI answer
  /// Answer the next GHCB call with an exception request (EXITINFO1 = 1) for this vector.
  std::optional<uint8_t> inject_vector;
  std::optional<uint32_t> inject_error_code;
  // PSC (GHCB form)
  unsigned psc_batches_per_call = ~0u;   ///< return early after this many VMM batches
  std::optional<uint64_t> psc_fail_gpa;  ///< the VMM refuses any batch covering this GPA
  bool rmp_4k_only = false;              ///< private 2 MiB batches get 4 KiB RMP entries
  /// Malicious write-back: grow end_entry, move cur_entry below where the call started (needs
  /// an early return first), set hdr.reserved, or rewrite entry 0's GFN (+0x1000).
  enum class Tamper {
    kNone,
    kGrowEnd,
    kRewindCur,
    kSetReserved,
    kRewriteGfn
  } psc_tamper = Tamper::kNone;
  // #VC-handler events (vc.c)
  uint64_t tsc = 0x0000'0123'89AB'CDEF;  ///< RDTSC/RDTSCP answer; RDTSCP's TSC_AUX below
  uint32_t tsc_aux = 0x5;
  uint64_t cr3 = 0;  ///< what the CR3 hook reads (a test builds its own tables)
  // AP creation (KVM sev_snp_ap_creation checks)
  uint64_t vmsa_features = 0x1;  ///< the VM's SEV_FEATURES; RAX must equal it
  uint32_t vcpus = 4;            ///< APIC IDs 0 .. vcpus-1 exist
  /// GUEST_REQUEST (0x8000_0011, PLATFORM-FACTS 2.6): called with (request GPA, response GPA)
  /// after KVM's checks; returns SW_EXITINFO2 (firmware status 31:0, VMM status 63:32). Unset:
  /// the fake reports an error.
  std::function<uint64_t(uint64_t, uint64_t)> guest_request;
};

/// One page of the fake's RMP-like view.
struct FakePage {
  bool is_private = false;
  bool validated = false;
  bool rmp_2m = false;
};

/// What the guest asked for in one AP_CREATION.
struct ApCreation {
  uint32_t request = 0, apic_id = 0, vmpl = 0;
  uint64_t vmsa_gpa = 0, sev_features = 0;
  bool accepted = false;
};

class FakeKvm {
 public:
  explicit FakeKvm(FakeKvmOptions opts = {});

  /// Installs this fake as the target of the ghcb_native_* hooks on this thread.
  class Scope {
   public:
    explicit Scope(FakeKvm& kvm);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    FakeKvm* prev_;
  };

  FakeKvmOptions& options() { return opts_; }
  /// Seeds pages [gpa, gpa + npages * 4 KiB) as private (e.g. launch memory).
  void set_private(uint64_t gpa, uint64_t npages, bool validated, bool rmp_2m);
  /// State of the page holding `gpa` (default: shared, not validated).
  FakePage page(uint64_t gpa) const;

  // Observations.
  uint64_t ghcb_msr() const { return ghcb_msr_; }
  std::optional<uint64_t> registered_gpa() const { return registered_gpa_; }
  std::optional<ghcb::TermRequest> termination() const { return term_; }
  unsigned halts() const { return halts_; }
  const std::vector<std::string>& errors() const { return errors_; }
  /// Ordered log: "pvalidate ...", "psc_msr ...", "psc_batch ...", "psc_call ...", ...
  const std::vector<std::string>& events() const { return events_; }
  const std::string& console() const { return console_; }
  std::optional<uint32_t> exit_value() const { return exit_value_; }
  const std::vector<ApCreation>& ap_creations() const { return ap_creations_; }
  const std::vector<ghcb::PscBatch>& psc_batches() const { return psc_batches_; }
  unsigned psc_calls() const { return psc_calls_; }
  unsigned psmashes() const { return psmashes_; }
  const std::map<uint32_t, uint64_t>& msrs() const { return msrs_; }
  std::optional<uint64_t> last_xcr0() const { return last_xcr0_; }
  uint16_t last_protocol_version() const { return last_protocol_version_; }
  uint64_t ap_jump_table() const { return ap_jump_table_; }
  /// Arguments (RAX, RBX, RCX, RDX, RSI, CPL) of the last VMMCALL NAE; it answers RAX + 1.
  const std::vector<uint64_t>& last_vmmcall() const { return last_vmmcall_; }
  unsigned cr3_writes() const { return cr3_writes_; }

  /// Context the OUT/IN hooks route through ghcb_vc_handle, as a #VC would: the hook builds a
  /// frame (RAX = value, RDX = port, error code 0x7B) whose RIP points at the bytes of
  /// OUT DX / IN DX of that size. Without one, OUT/IN are reported as errors.
  void set_vc_ctx(struct ghcb_ctx* ctx) { vc_ctx_ = ctx; }
  void out(uint16_t port, unsigned size, uint32_t value);
  uint32_t in(uint16_t port, unsigned size);
  /// CPUID through ghcb_vc_handle the same way (RAX = fn, RCX = subfn, bytes 0F A2).
  void cpuid(uint32_t fn, uint32_t subfn, uint32_t out[4]);
  uint64_t read_cr3() const { return opts_.cr3; }
  void write_cr3(uint64_t v) {
    ++cr3_writes_;
    opts_.cr3 = v;
  }

  /// Deterministic CPUID answer of the fake for (fn, subfn): register r = 0 EAX .. 3 EDX.
  static uint32_t cpuid_value(uint32_t fn, uint32_t subfn, unsigned r);

  // Hook entry points.
  uint64_t rdmsr(uint32_t msr);
  void wrmsr(uint32_t msr, uint64_t value);
  void vmgexit();
  int pvalidate(uint64_t va, unsigned page_size, unsigned validate, int* cf);
  int rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs);
  void halt() { ++halts_; }

 private:
  void handle_msr_protocol(uint64_t msr);
  void handle_ghcb(uint64_t gpa);
  ghcb::GhcbResponse handle_psc(uint64_t gpa, const ghcb::VmgexitInputs& in,
                                const ghcb::GhcbSnapshot& snap);
  ghcb::GhcbResponse handle_ap_creation(const ghcb::VmgexitInputs& in);
  /// Applies a KVM_HC_MAP_GPA_RANGE to the page map; returns the hypercall result (0 = ok).
  uint64_t map_gpa_range(uint64_t gpa, uint64_t npages, bool to_private, bool size_2m);
  void error(std::string what) { errors_.push_back(std::move(what)); }

  FakeKvmOptions opts_;
  uint64_t ghcb_msr_ = 0;
  std::optional<uint64_t> registered_gpa_;
  std::optional<ghcb::TermRequest> term_;
  unsigned halts_ = 0;
  uint64_t ap_jump_table_ = 0;
  unsigned ap_hold_left_ = 0;
  std::map<uint64_t, FakePage> pages_;  // by GFN
  std::map<uint32_t, uint64_t> msrs_;
  std::vector<std::string> errors_;
  std::vector<std::string> events_;
  std::string console_;
  std::optional<uint32_t> exit_value_;
  std::vector<ApCreation> ap_creations_;
  std::vector<ghcb::PscBatch> psc_batches_;
  unsigned psc_calls_ = 0;
  unsigned psmashes_ = 0;
  std::optional<uint64_t> last_xcr0_;
  uint16_t last_protocol_version_ = 0;
  std::vector<uint64_t> last_vmmcall_;
  unsigned cr3_writes_ = 0;
  struct ghcb_ctx* vc_ctx_ = nullptr;
};

using ::snpemu::hex;

}  // namespace snpemu::test
