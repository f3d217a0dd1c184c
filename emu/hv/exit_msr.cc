// emu/hv/exit_msr.cc: the MSR intercept (svm.c msr_interception -> x86.c kvm_emulate_rdmsr /
// kvm_emulate_wrmsr -> svm_get_msr / svm_set_msr / kvm_get_msr_common / kvm_set_msr_common)
// for the small set of MSRs KVM emulates that a plain 64-bit guest touches. Any other MSR, or a
// value KVM refuses, injects #GP(0) without moving RIP (kvm_complete_insn_gp), KVM's default
// with ignore_msrs off.
#include <optional>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

// MSR numbers [L] arch/x86/include/asm/msr-index.h.
constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrApicBase = 0x1B;
constexpr uint32_t kMsrUcodeRev = 0x8B;  // MSR_IA32_UCODE_REV = MSR_AMD64_PATCH_LEVEL
constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrPat = 0x277;
constexpr uint32_t kMsrEfer = 0xC000'0080;
constexpr uint32_t kMsrStar = 0xC000'0081;
constexpr uint32_t kMsrLstar = 0xC000'0082;
constexpr uint32_t kMsrCstar = 0xC000'0083;
constexpr uint32_t kMsrSyscallMask = 0xC000'0084;
constexpr uint32_t kMsrFsBase = 0xC000'0100;
constexpr uint32_t kMsrGsBase = 0xC000'0101;
constexpr uint32_t kMsrKernelGsBase = 0xC000'0102;
constexpr uint32_t kMsrTscAux = 0xC000'0103;

// APIC base bits [L] asm/apicdef.h: BSP 8, EXTD (x2APIC) 10, EN 11.
constexpr uint64_t kApicBsp = 1u << 8, kApicExtd = 1u << 10, kApicEn = 1u << 11;

bool cpuid_bit(const ExitContext& ctx, uint32_t function, uint32_t index, int reg, int bit) {
  const KvmCpuidEntry2* e = ctx.vm.cpuid.find(function, index);
  if (e == nullptr) return false;
  const uint32_t v[4] = {e->eax, e->ebx, e->ecx, e->edx};
  return ((v[reg] >> bit) & 1u) != 0;
}
constexpr int kEax = 0, kEcx = 2, kEdx = 3;

bool canonical(const ExitContext& ctx, uint64_t v) {
  return mmu::is_canonical(v, (ctx.vmcb.save.cr4 & mmu::kCr4La57) != 0);
}

// Guest MAXPHYADDR: CPUID 0x8000_0008 EAX[7:0] from the table, else 52 (UNCONFIRMED default:
// KVM derives it from the same leaf, falling back to 36 when the leaf is absent).
unsigned guest_maxphyaddr(const ExitContext& ctx) {
  const KvmCpuidEntry2* e = ctx.vm.cpuid.find(0x8000'0008, 0);
  const unsigned w = e != nullptr ? (e->eax & 0xFF) : 52;
  return w < 32 || w > 52 ? 52 : w;
}

std::optional<uint64_t> read_msr(ExitContext& ctx, uint32_t msr) {
  const svm::VmcbSaveArea& s = ctx.vmcb.save;
  switch (msr) {
    case kMsrTsc:
      return ctx.host_tsc + ctx.vmcb.control.tsc_offset;  // kvm_read_l1_tsc
    case kMsrApicBase:
      return ctx.vcpu.msr.apic_base;
    case kMsrUcodeRev:
      return ctx.vcpu.msr.microcode_version;
    case kMsrSysenterCs:
      return s.sysenter_cs;
    case kMsrSysenterEsp:
      return s.sysenter_esp;
    case kMsrSysenterEip:
      return s.sysenter_eip;
    case kMsrPat:
      return s.g_pat;
    // The guest's EFER is the VMCB's without SVME, which KVM forces on (svm_set_efer) and a
    // guest without nested SVM never sees.
    case kMsrEfer:
      return s.efer & ~svm::efer::kSvme;
    case kMsrStar:
      return s.star;
    case kMsrLstar:
      return s.lstar;
    case kMsrCstar:
      return s.cstar;
    case kMsrSyscallMask:
      return s.sfmask;
    case kMsrFsBase:
      return s.fs.base;
    case kMsrGsBase:
      return s.gs.base;
    case kMsrKernelGsBase:
      return s.kernel_gs_base;
    case kMsrTscAux:
      // [L] x86.c: needs RDTSCP (0x8000_0001 EDX[27]) or RDPID (7.0 ECX[22]) in guest CPUID.
      if (!cpuid_bit(ctx, 0x8000'0001, 0, kEdx, 27) && !cpuid_bit(ctx, 7, 0, kEcx, 22)) {
        return std::nullopt;
      }
      return ctx.vcpu.msr.tsc_aux;
    default:
      return std::nullopt;
  }
}

// [L] x86.c set_efer / kvm_valid_efer / __kvm_valid_efer: bits outside SCE, LME, LMA, NXE and
// FFXSR are reserved (SVME needs nested SVM, not modelled); LME/LMA need guest LM, NXE guest
// NX, FFXSR guest FFXSR; LME may not change while paging is on; LMA is kept from the current
// value.
bool write_efer(ExitContext& ctx, uint64_t value) {
  using namespace svm::efer;
  const uint64_t allowed = kSce | kLme | kLma | kNxe | kFfxsr;
  if ((value & ~allowed) != 0) return false;
  if ((value & (kLme | kLma)) != 0 && !cpuid_bit(ctx, 0x8000'0001, 0, kEdx, 29)) return false;
  if ((value & kNxe) != 0 && !cpuid_bit(ctx, 0x8000'0001, 0, kEdx, 20)) return false;
  if ((value & kFfxsr) != 0 && !cpuid_bit(ctx, 0x8000'0001, 0, kEdx, 25)) return false;
  svm::VmcbSaveArea& s = ctx.vmcb.save;
  if ((s.cr0 & svm::cr0::kPg) != 0 && ((s.efer ^ value) & kLme) != 0) return false;
  s.efer = (value & ~kLma) | (s.efer & kLma) | kSvme;
  ctx.vmcb.control.clean &= ~svm::clean::kCr;
  return true;
}

// [L] lapic.c kvm_apic_set_base: bits 0-7 and 9, bits at or above MAXPHYADDR, and EXTD without
// guest x2APIC are reserved; EXTD without EN is invalid; x2APIC -> xAPIC directly is refused.
bool write_apic_base(ExitContext& ctx, uint64_t value) {
  uint64_t reserved = 0x2FF | ~((uint64_t{1} << guest_maxphyaddr(ctx)) - 1);
  if (!cpuid_bit(ctx, 1, 0, kEcx, 21)) reserved |= kApicExtd;
  if ((value & reserved) != 0) return false;
  if ((value & (kApicExtd | kApicEn)) == kApicExtd) return false;
  const uint64_t old = ctx.vcpu.msr.apic_base;
  if ((old & (kApicExtd | kApicEn)) == (kApicExtd | kApicEn) &&
      (value & (kApicExtd | kApicEn)) == kApicEn) {
    return false;
  }
  ctx.vcpu.msr.apic_base = (value & ~kApicBsp) | (old & kApicBsp);  // BSP is read-only
  return true;
}

bool write_msr(ExitContext& ctx, uint32_t msr, uint64_t value) {
  svm::VmcbSaveArea& s = ctx.vmcb.save;
  switch (msr) {
    case kMsrTsc:  // kvm_set_msr_common: the guest TSC becomes `value` now
      ctx.vmcb.control.tsc_offset = value - ctx.host_tsc;
      ctx.vmcb.control.clean &= ~svm::clean::kIntercepts;
      return true;
    case kMsrApicBase:
      return write_apic_base(ctx, value);
    case kMsrUcodeRev:
      return true;  // x86.c: only a host-initiated write changes it
    case kMsrSysenterCs:
      s.sysenter_cs = value;
      return true;
    case kMsrSysenterEsp:
    case kMsrSysenterEip: {
      // [L] x86.c __kvm_set_msr: no #GP on AMD (no 64-bit SYSENTER); the value is made
      // canonical (get_canonical: sign-extended from the top virtual-address bit).
      const int top = (ctx.vmcb.save.cr4 & mmu::kCr4La57) != 0 ? 56 : 47;
      const uint64_t v =
          static_cast<uint64_t>(static_cast<int64_t>(value << (63 - top)) >> (63 - top));
      (msr == kMsrSysenterEsp ? s.sysenter_esp : s.sysenter_eip) = v;
      return true;
    }
    case kMsrPat:  // kvm_pat_valid
      if (!svm::pat_valid(value)) return false;
      s.g_pat = value;
      ctx.vmcb.control.clean &= ~svm::clean::kNpt;
      return true;
    case kMsrEfer:
      return write_efer(ctx, value);
    case kMsrStar:
      s.star = value;
      return true;
    case kMsrSyscallMask:
      s.sfmask = value;
      return true;
    case kMsrLstar:  // [L] x86.c __kvm_set_msr: these must be canonical, else #GP
    case kMsrCstar:
    case kMsrFsBase:
    case kMsrGsBase:
    case kMsrKernelGsBase: {
      if (!canonical(ctx, value)) return false;
      if (msr == kMsrLstar) s.lstar = value;
      if (msr == kMsrCstar) s.cstar = value;
      if (msr == kMsrKernelGsBase) s.kernel_gs_base = value;
      if (msr == kMsrFsBase || msr == kMsrGsBase) {
        (msr == kMsrFsBase ? s.fs.base : s.gs.base) = value;
        ctx.vmcb.control.clean &= ~svm::clean::kSeg;
      }
      return true;
    }
    case kMsrTscAux:
      if (!read_msr(ctx, kMsrTscAux)) return false;
      // x86.c: AMD CPUs ignore bits 63:32 of TSC_AUX; KVM drops them for non-Intel guests.
      ctx.vcpu.msr.tsc_aux = static_cast<uint32_t>(value);
      return true;
    default:
      return false;
  }
}

}  // namespace

// [L] svm.c msr_interception: exit_info_1 != 0 is WRMSR, 0 is RDMSR (any non-zero value, as
// KVM tests it; hardware writes only 0 or 1, APM vol 2 15.11).
ExitOutcome handle_msr(ExitContext& ctx) {
  if (!has_next_rip(ctx)) return no_next_rip(ctx);
  const auto msr = static_cast<uint32_t>(read_gpr(ctx, kRcx));
  const bool is_write = ctx.vmcb.control.exit_info_1 != 0;
  bool ok;
  if (is_write) {
    const uint64_t value = (read_gpr(ctx, kRdx) << 32) | static_cast<uint32_t>(read_gpr(ctx, kRax));
    ok = write_msr(ctx, msr, value);
  } else {
    std::optional<uint64_t> v = read_msr(ctx, msr);
    ok = v.has_value();
    if (ok) {
      write_gpr(ctx, kRax, static_cast<uint32_t>(*v));
      write_gpr(ctx, kRdx, *v >> 32);
    }
  }
  if (!ok) {
    ctx.vcpu.run.message = std::string(is_write ? "WRMSR " : "RDMSR ") + hex(msr) + " -> #GP(0)";
    // [L] svm.c svm_complete_emulated_msr: an SEV-ES guest is asked through the GHCB to take
    // the #GP (SW_EXITINFO1 = 1), not injected.
    if (ctx.vcpu.sev_es.mapped) {
      ghcb_request_exception(ctx, kGpVector);
      return resume(ExitPath::kMsrInjectGp);
    }
    return inject_or_fail(ctx, kGpVector, 0u, ExitPath::kMsrInjectGp);
  }
  skip_instruction(ctx);
  return resume(is_write ? ExitPath::kMsrWrite : ExitPath::kMsrRead);
}

}  // namespace snpemu::hv::internal
