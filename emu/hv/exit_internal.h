// emu/hv/exit_internal.h: helpers shared by the exit handlers (package-private).
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>

#include "emu/hv/hv.h"
#include "ghcb/ghcb.h"
#include "mmu/mmu.h"

namespace snpemu::hv::internal {

// ---- outcomes ----
inline ExitOutcome resume(ExitPath path, uint32_t units = 0) {
  return ExitOutcome{ExitAction::kResumeGuest, path, units, std::nullopt};
}
inline ExitOutcome to_vmm(ExitPath path, uint32_t units = 0) {
  return ExitOutcome{ExitAction::kExitToVmm, path, units, std::nullopt};
}
/// KVM_EXIT_INTERNAL_ERROR with `suberror`, data[0..] = `data`, and the message.
ExitOutcome internal_error(ExitContext& ctx, uint32_t suberror, std::span<const uint64_t> data,
                           std::string message, ExitPath path = ExitPath::kInternalError);
/// Resets the record before a handler fills it.
void begin_run(KvmRun& run, KvmExitReason reason, std::string message);

// ---- instruction and event helpers (exit_table.cc) ----
/// kvm_skip_emulated_instruction with NRIPS (svm.c skip_emulated_instruction): RIP = next_rip,
/// interrupt shadow cleared. False if next_rip is 0 (no NRIPS: the model has no instruction
/// decoder to skip with).
bool skip_instruction(ExitContext& ctx);
/// RIP = `next_rip` and the interrupt shadow cleared.
void set_rip(ExitContext& ctx, uint64_t next_rip);
/// Writes event_inj (svm_queue_exception / svm_inject_exception encoding, cpu/svm event.cc).
/// False if event_inj already holds a valid event (the exit re-queued one): the caller turns
/// that into an internal error (KVM would merge into #DF; not modelled).
bool inject_exception(ExitContext& ctx, uint8_t vector, std::optional<uint32_t> error_code);
/// inject_exception, or the internal error when it cannot.
ExitOutcome inject_or_fail(ExitContext& ctx, uint8_t vector, std::optional<uint32_t> error_code,
                           ExitPath path);
/// An outcome for "next_rip is 0".
ExitOutcome no_next_rip(ExitContext& ctx);
/// EFER.LMA and CS.L: the guest runs 64-bit code (is_64_bit_mode).
bool guest_64bit(const svm::Vmcb& vmcb);
/// The VM's guests keep their state in a VMSA (SEV-ES, SNP): vcpu->arch.guest_state_protected.
bool protected_state(const ExitContext& ctx);
/// The handler can complete the instruction: NRIPS gave next_rip, or the state is protected
/// (nothing to skip: VMGEXIT is trap-like).
bool has_next_rip(const ExitContext& ctx);
/// svm_invoke_exit_handler: the table's handler for `exit_code` (a GHCB NAE event runs the SVM
/// handler of the same code), or the unexpected-exit internal error.
ExitOutcome invoke_exit_handler(ExitContext& ctx, uint64_t exit_code);

inline constexpr uint8_t kUdVector = 6, kGpVector = 13, kPfVector = 14, kAcVector = 17,
                         kSsVector = 12;

// ---- the handlers (one file per family) ----
ExitOutcome handle_cpuid(ExitContext& ctx);                               // exit_cpuid.cc
ExitOutcome handle_msr(ExitContext& ctx);                                 // exit_msr.cc
ExitOutcome handle_ioio(ExitContext& ctx);                                // exit_ioio.cc
ExitOutcome handle_string_io(ExitContext& ctx, const svm::IoioInfo& io);  // exit_string_io.cc
/// RAX after an IN of `size` bytes (exit_ioio.cc).
uint64_t merge_in(uint64_t rax, unsigned size, uint32_t value);
/// Finishes a string I/O round trip the VMM answered (completion.cc calls it).
ExitOutcome complete_string_io(ExitContext& ctx, const Completion& c);
ExitOutcome handle_npf(ExitContext& ctx);      // exit_npf.cc
ExitOutcome handle_vmmcall(ExitContext& ctx);  // exit_vmmcall.cc
ExitOutcome handle_hlt(ExitContext& ctx);      // exit_misc.cc from here on
ExitOutcome handle_shutdown(ExitContext& ctx);
ExitOutcome handle_interrupt(ExitContext& ctx);
ExitOutcome handle_vintr(ExitContext& ctx);
ExitOutcome handle_inject_ud(ExitContext& ctx);
ExitOutcome handle_rdpmc(ExitContext& ctx);
ExitOutcome handle_nop_skip(ExitContext& ctx);
ExitOutcome handle_reinject_ud(ExitContext& ctx);
ExitOutcome handle_reinject_ac(ExitContext& ctx);
ExitOutcome handle_machine_check(ExitContext& ctx);

// ---- SEV-ES / SNP VMGEXIT (ghcb_*.cc) ----
ExitOutcome handle_vmgexit(ExitContext& ctx);               // ghcb_msr.cc
ExitOutcome handle_write_trap(ExitContext& ctx);            // exit_trap.cc
ExitOutcome handle_msr_protocol(ExitContext& ctx);          // ghcb_msr.cc
ExitOutcome handle_ghcb_page(ExitContext& ctx);             // ghcb_nae.cc
ExitOutcome psc_msr_begin(ExitContext& ctx, uint64_t msr);  // ghcb_psc.cc
ExitOutcome psc_ghcb_begin(ExitContext& ctx);               // ghcb_psc.cc
ExitOutcome ghcb_string_io(ExitContext& ctx, const svm::IoioInfo& io);  // ghcb_io.cc
ExitOutcome ghcb_mmio(ExitContext& ctx, bool is_write);                 // ghcb_io.cc
ExitOutcome ghcb_guest_request(ExitContext& ctx, bool extended);        // ghcb_guest_request.cc
ExitOutcome ghcb_ap_creation(ExitContext& ctx);                          // ghcb_ap_creation.cc
/// Finishes a GHCB completion kind (kGhcb*, kPscMsr, kApResetHold) the VMM answered
/// (ghcb_io.cc); the PSC kinds are finished by psc_complete (ghcb_psc.cc).
ExitOutcome complete_ghcb(ExitContext& ctx, const Completion& c);
ExitOutcome psc_complete(ExitContext& ctx, const Completion& c);
// ghcb_map.cc: the mapped GHCB.
/// Sets the response (svm_vmgexit_set_return_code).
void ghcb_set_exit_info(ExitContext& ctx, uint64_t info1, uint64_t info2);
/// The exception request (svm_vmgexit_inject_exception): EXITINFO1 = 1, EXITINFO2 = vector |
/// TYPE_EXEPT | VALID (no error code).
void ghcb_request_exception(ExitContext& ctx, uint8_t vector);
/// Resume with a GHCB error response (malformed input code, or a PSC status).
ExitOutcome ghcb_error(ExitContext& ctx, const ghcb::GhcbError& e);
/// setup_vmgexit_scratch: checks the area and copies it once (from the GHCB snapshot or guest
/// memory). An error is already answered (the outcome to return); `sync` marks it for
/// write-back at unmap.
std::optional<ExitOutcome> ghcb_setup_scratch(ExitContext& ctx, uint64_t len, bool sync);
/// sev_es_unmap_ghcb: writes the scratch area back (if sync), then the valid bitmap cleared,
/// SW_EXITINFO1/2 (if set) and RAX/RBX/RCX/RDX with their bits into the guest's GHCB.
void ghcb_unmap(ExitContext& ctx);
/// After an exit handled with the GHCB mapped: unmaps unless a completion is pending, marks
/// the outcome as a GHCB exit.
ExitOutcome ghcb_finish(ExitContext& ctx, ExitOutcome o);
/// Writes or restores the SEV-ES vCPU state (ghcb_serialize.cc); VcpuState::serialize calls it.
void serialize_sev_es(Serializer& s, SevEsVcpu& es);
/// KVM_EXIT_SYSTEM_EVENT SEV_TERM with data[0] = the GHCB MSR value.
ExitOutcome sev_terminate(ExitContext& ctx, std::string message);

// ---- guest memory (guest_access.cc) ----
/// Reads guest-physical memory as the hypervisor does (through the memslot's shared backing,
/// kvm_vcpu_read_guest): nullopt-free result or a reason. Pages not yet backed read as zero;
/// a private GFN or a GPA in no memslot cannot be read by the hypervisor.
enum class GuestMemError : uint8_t { kNoSlot, kPrivate, kNoBacking, kReadonly };
const char* guest_mem_error_name(GuestMemError e);
std::expected<void, GuestMemError> read_guest_phys(VmContext& vm, uint64_t gpa,
                                                   std::span<uint8_t> out);
std::expected<void, GuestMemError> write_guest_phys(VmContext& vm, uint64_t gpa,
                                                    std::span<const uint8_t> in);

/// mmu::TableAccess over guest-physical page tables read through the memslots (the emulator's
/// guest walk, paging_tmpl.h walk_addr_generic reading guest memory). A table in no memslot or
/// in private memory is reported as Fault::kBadTableAddress.
class GuestTableAccess final : public mmu::TableAccess {
 public:
  explicit GuestTableAccess(VmContext& vm) : vm_(vm) {}
  std::expected<uint64_t, mmu::Fault> read_entry(uint64_t entry_gpa) override;
  std::expected<void, mmu::Fault> set_bits(uint64_t entry_gpa, uint64_t bits) override;

 private:
  VmContext& vm_;
};

/// The guest paging registers of the VMCB save area.
mmu::PagingRegs guest_paging_regs(const svm::Vmcb& vmcb);

}  // namespace snpemu::hv::internal
