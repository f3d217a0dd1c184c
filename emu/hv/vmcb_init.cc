// emu/hv/vmcb_init.cc: KVM's VMCB setup for a plain SVM guest (svm.c init_vmcb,
// svm_vcpu_init_msrpm, svm_hardware_setup's IOPM) and a long-mode start state.
#include <array>
#include <vector>

#include "base/hex.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

// A run of `n` consecutive pages from `pool` (the maps are 2 and 3 pages long).
KvmResult<Pfn> allocate_run(PagePool& pool, unsigned n, const char* what) {
  std::vector<Pfn> got;
  for (unsigned i = 0; i < n; ++i) {
    std::optional<Pfn> p = pool.allocate();
    if (!p || (i > 0 && p->value != got[0].value + i)) {
      if (p) pool.free(*p);
      for (Pfn q : got) pool.free(q);
      return std::unexpected(KvmError{
          KvmErrno::kEnomem, std::string("no run of ") + std::to_string(n) + " pages for the " +
                                 what + " in pool '" + pool.name() + "'"});
    }
    got.push_back(*p);
  }
  return got[0];
}

// [L] svm.c direct_access_msrs with .always = true: passed through for read and write.
constexpr std::array<uint32_t, 8> kPassthroughMsrs = {
    0xC000'0081,  // STAR
    0x0000'0174,  // SYSENTER_CS
    0xC000'0101,  // GS_BASE
    0xC000'0100,  // FS_BASE
    0xC000'0102,  // KERNEL_GS_BASE
    0xC000'0082,  // LSTAR
    0xC000'0083,  // CSTAR
    0xC000'0084,  // SYSCALL_MASK
};

}  // namespace

KvmResult<PermissionMaps> create_permission_maps(Memory& memory, PagePool& pool) {
  auto msrpm = allocate_run(pool, 2, "MSRPM");
  if (!msrpm) return std::unexpected(msrpm.error());
  auto iopm = allocate_run(pool, 3, "IOPM");
  if (!iopm) {
    pool.free(*msrpm);
    pool.free(Pfn{msrpm->value + 1});
    return std::unexpected(iopm.error());
  }
  const PermissionMaps maps{hpa_of(*msrpm), hpa_of(*iopm)};
  // [L] svm.c: memset(msrpm, 0xff, ...) and memset(iopm_va, 0xff, ...): intercept everything.
  if (!memory.fill(maps.msrpm, svm::kMsrpmSize, 0xFF) ||
      !memory.fill(maps.iopm, svm::kIopmSize, 0xFF)) {
    return std::unexpected(KvmError{KvmErrno::kEinval, "permission maps outside RAM"});
  }
  for (uint32_t msr : kPassthroughMsrs) pass_through_msr(memory, maps.msrpm, msr);
  return maps;
}

void pass_through_msr(Memory& memory, Hpa msrpm, uint32_t msr) {
  for (svm::MsrAccess a : {svm::MsrAccess::kRead, svm::MsrAccess::kWrite}) {
    const std::optional<svm::MsrpmSlot> slot = svm::msrpm_slot(msr, a);
    if (!slot) continue;
    const Hpa byte{msrpm.value + slot->byte_offset};
    auto v = memory.read8(byte);
    if (v) (void)memory.write8(byte, static_cast<uint8_t>(*v & ~(1u << slot->bit)));
  }
}

// [L] svm.c init_vmcb. Intercepts set here: INTR, NMI, SMI, RDPMC, CPUID, INVD, INVLPGA,
// IOIO_PROT, MSR_PROT, SHUTDOWN, HLT, MONITOR, MWAIT, RSM, VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI,
// CLGI, SKINIT, WBINVD, RDPRU; NP_ENABLE with nested_cr3. Differences from KVM, each because
// the layer has no handler that would make the exit useful:
//  - no CR0/CR4/CR8 read/write, selective-CR0 or DR intercepts (with NPT KVM drops the CR3 ones
//    and, via update_cr0_intercept, the CR0 ones once guest and host CR0 agree; the others need
//    decode-assisted MOV CR/DR emulation, not modelled);
//  - no exception intercepts (KVM: #UD, #MC, #AC, #DB; #PF only without NPT; the handlers for
//    #UD/#AC/#MC exist if a caller sets them);
//  - no TASK_SWITCH (cannot happen in 64-bit mode), no XSETBV (the core keeps the guest's XCR0
//    and checks XSETBV itself), no PAUSE (KVM sets it with a pause-filter count; without a
//    modelled filter every PAUSE would exit and re-execute).
void init_vmcb(svm::Vmcb& vmcb, const VmcbSetup& setup) {
  using svm::Intercept;
  vmcb.control = svm::VmcbControlArea{};
  svm::VmcbControlArea& c = vmcb.control;
  for (Intercept i :
       {Intercept::kIntr,    Intercept::kNmi,      Intercept::kSmi,     Intercept::kRdpmc,
        Intercept::kCpuid,   Intercept::kInvd,     Intercept::kInvlpga, Intercept::kIoioProt,
        Intercept::kMsrProt, Intercept::kShutdown, Intercept::kHlt,     Intercept::kMonitor,
        Intercept::kMwait,   Intercept::kRsm,      Intercept::kVmrun,   Intercept::kVmmcall,
        Intercept::kVmload,  Intercept::kVmsave,   Intercept::kStgi,    Intercept::kClgi,
        Intercept::kSkinit,  Intercept::kWbinvd,   Intercept::kRdpru}) {
    svm::set_intercept(c, i);
  }
  c.iopm_base_pa = setup.maps.iopm.value;
  c.msrpm_base_pa = setup.maps.msrpm.value;
  c.asid = setup.asid.value;
  c.int_ctl = svm::int_ctl::kVIntrMasking;  // [L] control->int_ctl = V_INTR_MASKING_MASK
  c.nested_ctl = svm::nested_ctl::kNpEnable;
  c.nested_cr3 = setup.nested_cr3.value;
  c.clean = 0;  // vmcb_mark_all_dirty
}

void init_long_mode_save_area(svm::VmcbSaveArea& save, const LongModeStart& start) {
  using namespace svm::seg_attrib;
  save = svm::VmcbSaveArea{};
  // 64-bit code: type 0xB (execute/read, accessed), S, P, L, G (APM vol 2 4.8.1).
  const svm::VmcbSeg code{0x08, static_cast<uint16_t>(0xB | kS | kP | kL | kG), 0xFFFF'FFFF, 0};
  // Flat data: type 0x3 (read/write, accessed), S, P, D/B, G.
  const svm::VmcbSeg data{0x10, static_cast<uint16_t>(0x3 | kS | kP | kDb | kG), 0xFFFF'FFFF, 0};
  save.cs = code;
  save.ds = save.es = save.ss = save.fs = save.gs = data;
  save.gdtr = svm::VmcbSeg{0, 0, start.gdtr_limit, start.gdtr_base};
  save.idtr = svm::VmcbSeg{0, 0, start.idtr_limit, start.idtr_base};
  save.ldtr = svm::VmcbSeg{0, static_cast<uint16_t>(0x2 | kP), 0xFFFF, 0};  // KVM init_sys_seg(LDT)
  save.tr = svm::VmcbSeg{0, static_cast<uint16_t>(0xB | kP), 0x67, 0};      // busy 64-bit TSS
  save.efer =
      svm::efer::kLme | svm::efer::kLma | svm::efer::kSvme | (start.nxe ? svm::efer::kNxe : 0);
  // CR0: PE | MP | ET | NE | WP | PG; CR4: PAE | OSFXSR | OSXMMEXCPT (APM vol 2 3.1).
  save.cr0 = 0x8001'0033;
  save.cr4 = 0x620;
  save.cr3 = start.cr3;
  save.dr6 = 0xFFFF'0FF0;  // [L] init_vmcb
  save.dr7 = 0x400;        // architectural reset value (APM vol 2 13.1.1.4)
  save.rflags = start.rflags | 0x2;
  save.rip = start.rip;
  save.rsp = start.rsp;
  save.rax = start.rax;
  save.g_pat = 0x0007'0406'0007'0406;  // PAT power-on value (APM vol 2 7.8.2)
  save.cpl = 0;
}

}  // namespace snpemu::hv
