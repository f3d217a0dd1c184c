// test/cpu/svm_fixture.h: a host core in 64-bit mode with SVM enabled, a VMCB for a plain
// 64-bit guest, an IOPM/MSRPM, and a helper that builds a nested page table -- shared by the SVM
// and SEV core tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/svm/svm.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu::testing {

using svm::ExitCode;
using svm::Intercept;

// Host-physical layout of the test machine (4 MiB of flat memory).
constexpr uint64_t kHostCode = 0x1000;
constexpr uint64_t kHostStack = 0x8000;
constexpr uint64_t kHsave = 0x10000;
constexpr uint64_t kVmcb = 0x11000;
constexpr uint64_t kIopm = 0x12000;   // 12 KiB
constexpr uint64_t kMsrpm = 0x15000;  // 8 KiB
constexpr uint64_t kVmsa = 0x17000;
constexpr uint64_t kNpt = 0x20000;        // NPT pages: PML4, PDPT, PD, 1 PT
constexpr uint64_t kGuestBase = 0x200000;  // guest RAM (host-physical) when NPT maps it
// Guest layout (without NPT these are host-physical addresses; with NPT, GPAs).
constexpr uint64_t kGuestCode = 0x100000;
constexpr uint64_t kGuestIdt = 0x101000;
constexpr uint64_t kGuestGdt = 0x102000;
constexpr uint64_t kGuestHandler = 0x103000;
constexpr uint64_t kGuestStack = 0x108000;

/// Host-physical address of a VMCB save-area field.
#define SNPEMU_VMCB_SAVE(f) (kVmcb + 0x400 + offsetof(svm::VmcbSaveArea, f))

/// The fixture over any bus with FlatBus's test helpers (poke, peek, load, outs).
template <class Bus>
class SvmTestOn : public ::testing::Test {
 protected:
  SvmTestOn(Bus& bus, CoreConfig config) : bus_(bus), core_(bus_, std::move(config)) {
    ArchState& h = core_.state();
    h = long_mode_state(kHostCode, kHostStack);
    h.efer |= ctl::kEferSvme;
    h.msr.vm_hsave_pa = kHsave;
    h.rflags |= flag::kIf;
    // Guest GDT: null, 0x08 64-bit code, 0x10 data.
    bus_.template poke<uint64_t>(kGuestGdt + 0x08, 0x00AF9A000000FFFF);
    bus_.template poke<uint64_t>(kGuestGdt + 0x10, 0x00CF92000000FFFF);
    // A plain guest: 64-bit flat state, paging off (the core's identity mode), ASID 1.
    svm::Vmcb v{};
    v.control.asid = 1;
    v.control.iopm_base_pa = kIopm;
    v.control.msrpm_base_pa = kMsrpm;
    svm::set_intercept(v.control, Intercept::kVmrun);
    const ArchState g = long_mode_state(kGuestCode, kGuestStack);
    v.save.cs = {0x08, g.seg[kCs].attrib, 0xFFFFFFFF, 0};
    for (svm::VmcbSeg* s : {&v.save.ds, &v.save.es, &v.save.ss}) *s = {0x10, 0xC93, 0xFFFFFFFF, 0};
    v.save.gdtr = {0, 0, 0x17, kGuestGdt};
    v.save.idtr = {0, 0, 0xFFF, kGuestIdt};
    v.save.efer = g.efer | ctl::kEferSvme;
    v.save.cr0 = g.cr0;
    v.save.cr4 = g.cr4;
    v.save.rflags = 2;
    v.save.rip = kGuestCode;
    v.save.rsp = kGuestStack;
    v.save.g_pat = 0x0007040600070406;
    vmcb_ = v;
  }
  void write_vmcb() { bus_.poke(kVmcb, vmcb_); }
  svm::Vmcb read_vmcb() { return bus_.template peek<svm::Vmcb>(kVmcb); }
  void code(std::vector<uint8_t> bytes, uint64_t at) { bus_.load(at, bytes); }
  void intercept(Intercept i) { svm::set_intercept(vmcb_.control, i); }
  // Guest IDT gate (interrupt gate, selector 0x08) at `idt`.
  void gate(uint64_t idt, unsigned vector, uint64_t target) {
    const uint64_t lo = (target & 0xFFFF) | (uint64_t{0x08} << 16) | (uint64_t{0x8E} << 40) |
                        (((target >> 16) & 0xFFFF) << 48);
    bus_.template poke<uint64_t>(idt + vector * 16, lo);
    bus_.template poke<uint64_t>(idt + vector * 16 + 8, target >> 32);
  }
  // Enters through the host-instruction path and runs until the next stop.
  StopReason enter_and_run() {
    write_vmcb();
    auto r = core_.vmrun(kVmcb);
    EXPECT_TRUE(r.has_value()) << "VMRUN faulted, vector " << int(r.error().vector);
    if (!r || !*r) return StopReason::kVmexit;
    return core_.run(1'000'000);
  }
  // NPT mapping GPA [0, 2 MiB) to host [kGuestBase, kGuestBase + 2 MiB) with 4 KiB pages, RWX
  // and user (AMD NPT entries are checked as user accesses, APM vol 2 15.25.5).
  void build_npt(uint64_t unmapped_gpa = ~uint64_t{0}) {
    constexpr uint64_t kFlags = 0x7;  // P RW US
    const uint64_t pml4 = kNpt, pdpt = kNpt + 0x1000, pd = kNpt + 0x2000, pt0 = kNpt + 0x3000;
    bus_.template poke<uint64_t>(pml4, pdpt | kFlags);
    bus_.template poke<uint64_t>(pdpt, pd | kFlags);
    bus_.template poke<uint64_t>(pd, pt0 | kFlags);
    // One PD entry covers 2 MiB = 512 PTEs: PT at pt0 (4 KiB) covers 2 MiB.
    for (uint64_t i = 0; i < 512; ++i) {
      const uint64_t gpa = i << 12;
      bus_.template poke<uint64_t>(pt0 + 8 * i, gpa == unmapped_gpa ? 0 : (kGuestBase + gpa) | kFlags);
    }
    vmcb_.control.nested_ctl |= svm::nested_ctl::kNpEnable;
    vmcb_.control.nested_cr3 = pml4;
  }

  Bus& bus_;
  Core core_;
  svm::Vmcb vmcb_{};
};

struct FlatBusHolder {
  FlatBus flat_bus{4 << 20};
};

/// The fixture over 4 MiB of flat test memory.
class SvmTest : public FlatBusHolder, public SvmTestOn<FlatBus> {
 protected:
  explicit SvmTest(CoreConfig config = CoreConfig{}) : SvmTestOn<FlatBus>(flat_bus, std::move(config)) {}
};

}  // namespace snpemu::cpu::testing
