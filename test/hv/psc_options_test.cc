// The PSC options of the exit layer (ExitOptions::psc_handling, rmp_update_timing; convert.h):
// per option and per PSC form (MSR protocol, GHCB descriptor) the exits, the answers to the
// guest and the memory state (attributes, backing pages, gmem prepare/invalidate calls through
// recording arch hooks), including the error paths. KVM's default (vmm + lazy) is covered by
// ghcb_psc_test / ghcb_msr_test; here it is the reference the options are compared with.
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "base/hex.h"
#include "emu/vmm/vmm.h"
#include "test/hv/fixture.h"
#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t kPsc = 0x8000'0010;
constexpr size_t kDesc = ghcb::kGhcbSharedBufferOffset;
constexpr uint64_t kDescGpa = kGhcbGpa + kDesc;
constexpr uint64_t kMsrPscResp = 0x015;
constexpr uint64_t kOutsideGfn = (kSlotBytes >> kPageShift) + 0x10;  // in no memslot

uint64_t psc_msr(uint64_t gfn, bool to_private) {
  return (uint64_t{to_private ? 1u : 2u} << 52) | (gfn << 12) | 0x014;  // PSC_REQ
}

// An SNP VM whose Vm has recording arch hooks (the GhcbFixture's Vm has none), the GHCB
// registered, and the PSC options as given.
struct OptionsFixture : GhcbFixture {
  RecordingHooks hooks;
  OptionsFixture(PscHandling handling, RmpUpdateTiming timing) : GhcbFixture(VmType::kSnp) {
    auto created = Vm::create(*memory, VmConfig{.type = VmType::kSnp,
                                                .shared_pool_first = kExitSharedFirst,
                                                .shared_pool_pages = kExitSharedPages,
                                                .private_pool_first = kExitPrivateFirst,
                                                .private_pool_pages = kExitPrivatePages,
                                                .hooks = &hooks});
    EXPECT_TRUE(created.has_value()) << created.error().describe();
    vm->set_mmu_notifier(nullptr);
    vm = std::move(*created);
    vm->set_mmu_notifier(npt.get());
    auto fd = vm->create_guest_memfd(KvmCreateGuestMemfd{.size = kSlotBytes});
    EXPECT_TRUE(fd.has_value());
    auto r = vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = 0,
                                                                  .flags = kKvmMemGuestMemfd,
                                                                  .guest_phys_addr = kSlotGpa,
                                                                  .memory_size = kSlotBytes,
                                                                  .userspace_addr = kSlotHva,
                                                                  .guest_memfd = *fd});
    EXPECT_TRUE(r.has_value()) << r.error().describe();
    vmctx.vm = vm.get();
    vmctx.options.psc_handling = handling;
    vmctx.options.rmp_update_timing = timing;
    vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);  // register the GHCB
  }
  /// The descriptor [0, entries) with end_entry = entries - 1, serialized by ghcb/'s write-back
  /// into the shared buffer, and the PSC call pointing at it.
  void descriptor(std::initializer_list<ghcb::PscEntry> entries) {
    ghcb::PscDesc d;
    for (const ghcb::PscEntry& e : entries) d.entries[d.entries_present++] = e.encode();
    d.hdr.end_entry = static_cast<uint16_t>(d.entries_present - 1);
    std::array<std::byte, ghcb::kPscMaxBytes> bytes{};
    put_shared(kDesc, bytes.data(), ghcb::psc_write_back(d, bytes));
    call(kPsc, 0, 0);
    set(F::kSwScratch, kDescGpa);
  }
  ghcb::PscDesc read_back() {
    std::array<std::byte, ghcb::kPscMaxBytes> bytes{};
    for (size_t i = 0; i < bytes.size(); i += 8) {
      const uint64_t v = read_gpa64(kDescGpa + i);
      std::memcpy(bytes.data() + i, &v, 8);
    }
    auto d = ghcb::parse_psc_desc(bytes);
    EXPECT_TRUE(d.has_value());
    return d ? *d : ghcb::PscDesc{};
  }
  uint16_t cur_entry() { return read_back().hdr.cur_entry; }
  ghcb::PscEntry entry(unsigned i) { return read_back().entry(i); }
  bool is_private(uint64_t gfn) { return vm->mem_is_private(Gfn{gfn}); }
  /// A private fault of `gfn` (the guest's first access after the conversion).
  FaultOutcome fault_private(uint64_t gfn) {
    return vm->faultin(FaultRequest{.gpa = Gpa{gfn << kPageShift}, .is_private = true, .write = true});
  }
};

// ------------------------------------------------------------------------------ MSR protocol

TEST(PscOptions, MsrInKernelLazyConvertsWithoutAVmmExitAndPreparesAtTheFault) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  ASSERT_TRUE(f.vm->shared_page(kSlotHva + (0x300 << kPageShift)).has_value());  // shared backing
  const ExitOutcome o = f.vmgexit_msr(psc_msr(0x300, true));
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kGhcbMsrProtocol);
  EXPECT_EQ(f.vcpu.completion.kind, Completion::Kind::kNone) << "nothing left for the VMM";
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, kMsrPscResp) << "expected PSC_RESP 0x015, got " << hex(f.vmcb.control.ghcb_gpa);
  EXPECT_TRUE(f.is_private(0x300));
  EXPECT_FALSE(f.vm->shared_backing(Gfn{0x300}).has_value()) << "the shared page must be discarded";
  EXPECT_FALSE(f.vm->private_backing(Gfn{0x300}).has_value()) << "lazy: no guest_memfd page yet";
  EXPECT_TRUE(f.hooks.prepares.empty());
  const FaultOutcome fo = f.fault_private(0x300);
  ASSERT_EQ(fo.kind, FaultOutcome::Kind::kMap);
  EXPECT_TRUE(fo.prepared_now) << "lazy: gmem_prepare runs at the first private fault";
  ASSERT_EQ(f.hooks.prepares.size(), 1u);
  EXPECT_EQ(f.hooks.prepares[0].gfn, Gfn{0x300});
  EXPECT_EQ(f.hooks.prepares[0].pfn, fo.pfn);

  // Back to shared: punch hole -> gmem_invalidate of that page, attributes cleared.
  EXPECT_EQ(f.vmgexit_msr(psc_msr(0x300, false)).path, ExitPath::kGhcbMsrProtocol);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, kMsrPscResp);
  EXPECT_FALSE(f.is_private(0x300));
  EXPECT_FALSE(f.vm->private_backing(Gfn{0x300}).has_value());
  ASSERT_EQ(f.hooks.invalidates.size(), 1u);
  EXPECT_EQ(f.hooks.invalidates[0].start, fo.pfn);
  EXPECT_EQ(f.hooks.invalidates[0].end, Pfn{fo.pfn.value + 1});
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

TEST(PscOptions, MsrInKernelEagerPreparesAtThePsc) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kEager);
  EXPECT_EQ(f.vmgexit_msr(psc_msr(0x301, true)).path, ExitPath::kGhcbMsrProtocol);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, kMsrPscResp);
  const auto pfn = f.vm->private_backing(Gfn{0x301});
  ASSERT_TRUE(pfn.has_value()) << "eager: the guest_memfd page is allocated at the PSC";
  ASSERT_EQ(f.hooks.prepares.size(), 1u);
  EXPECT_EQ(f.hooks.prepares[0].gfn, Gfn{0x301});
  EXPECT_EQ(f.hooks.prepares[0].pfn, *pfn);
  const FaultOutcome fo = f.fault_private(0x301);
  ASSERT_EQ(fo.kind, FaultOutcome::Kind::kMap);
  EXPECT_FALSE(fo.prepared_now) << "eager: the fault must not take the prepare path";
  EXPECT_EQ(fo.pfn, *pfn);
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  // Converting an already private, prepared page again prepares nothing more.
  EXPECT_EQ(f.vmgexit_msr(psc_msr(0x301, true)).path, ExitPath::kGhcbMsrProtocol);
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
}

TEST(PscOptions, MsrInKernelNeedsNoHypercallExitEnable) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  f.vmctx.options.hypercall_exit_enabled = 0;
  f.vmgexit_msr(psc_msr(0x302, true));
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, kMsrPscResp);
  EXPECT_TRUE(f.is_private(0x302));
}

TEST(PscOptions, MsrInKernelErrorsAnswerPscRespError) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  // Outside every memslot: the conversion fails, nothing changes, the guest gets the error.
  EXPECT_EQ(f.vmgexit_msr(psc_msr(kOutsideGfn, true)).action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, ghcb::kMsrPscRespError);
  EXPECT_FALSE(f.is_private(kOutsideGfn));
  EXPECT_NE(f.vcpu.run.message.find("in no memslot"), std::string::npos)
      << "message: " << f.vcpu.run.message;
  // An operation other than private/shared is refused before any conversion, as in KVM.
  f.vmgexit_msr((uint64_t{3} << 52) | (uint64_t{0x303} << 12) | 0x014);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, ghcb::kMsrPscRespError);
  EXPECT_FALSE(f.is_private(0x303));
}

TEST(PscOptions, MsrInKernelEagerPrepareFailureIsAnError) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kEager);
  f.hooks.fail_prepare = true;
  f.vmgexit_msr(psc_msr(0x304, true));
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, ghcb::kMsrPscRespError);
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  EXPECT_NE(f.vcpu.run.message.find("gmem prepare failed"), std::string::npos) << f.vcpu.run.message;
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

TEST(PscOptions, MsrVmmEagerExitsAndTheVmmPrepares) {
  OptionsFixture f(PscHandling::kVmm, RmpUpdateTiming::kEager);
  const ExitOutcome o = f.vmgexit_msr(psc_msr(0x305, true));
  ASSERT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kGhcbPscExit);
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kHypercall);
  EXPECT_FALSE(f.is_private(0x305)) << "KVM converts nothing before the VMM";
  vmm::KvmRunHypercall h{.nr = f.vcpu.run.hypercall.nr, .args = f.vcpu.run.hypercall.args};
  const vmm::ConvertResult r = vmm::handle_map_gpa_range(*f.vm, h, RmpUpdateTiming::kEager);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.pages_prepared, 1u);
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  f.vcpu.run.hypercall.ret = h.ret;
  EXPECT_EQ(f.complete().path, ExitPath::kCompletion);
  EXPECT_EQ(f.vmcb.control.ghcb_gpa, kMsrPscResp);
  EXPECT_FALSE(f.fault_private(0x305).prepared_now);
}

// -------------------------------------------------------------------------------- GHCB form

TEST(PscOptions, GhcbInKernelDoesEveryRangeInOneExit) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  ASSERT_TRUE(f.vm->shared_page(kSlotHva + (0x100 << kPageShift)).has_value());
  f.descriptor({{.gfn = 0x100, .operation = 1}, {.gfn = 0x101, .operation = 1},
                      {.gfn = 0x300, .operation = 2}});
  const ExitOutcome o = f.vmgexit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.path, ExitPath::kGhcbPscDone);
  EXPECT_TRUE(o.ghcb);
  EXPECT_EQ(f.vcpu.completion.kind, Completion::Kind::kNone);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 0u);
  EXPECT_EQ(f.cur_entry(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(f.entry(i).cur_page, 1u) << "entry " << i;
  EXPECT_TRUE(f.is_private(0x100));
  EXPECT_TRUE(f.is_private(0x101));
  EXPECT_FALSE(f.is_private(0x300));
  EXPECT_FALSE(f.vm->shared_backing(Gfn{0x100}).has_value());
  EXPECT_TRUE(f.hooks.prepares.empty()) << "lazy";
  EXPECT_FALSE(f.vm->private_backing(Gfn{0x101}).has_value());
}

TEST(PscOptions, GhcbInKernelEagerPreparesEveryPageOfTheRange) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kEager);
  f.descriptor({{.gfn = 0x110, .operation = 1}, {.gfn = 0x111, .operation = 1},
                      {.gfn = 0x112, .operation = 1}});
  EXPECT_EQ(f.vmgexit().path, ExitPath::kGhcbPscDone);
  EXPECT_EQ(f.info2(), 0u);
  ASSERT_EQ(f.hooks.prepares.size(), 3u);
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(f.hooks.prepares[i].gfn, Gfn{0x110 + i});
    EXPECT_EQ(f.vm->private_backing(Gfn{0x110 + i}), f.hooks.prepares[i].pfn) << "gfn " << 0x110 + i;
  }
  // Back to shared in one descriptor: every page invalidated and freed.
  f.descriptor({{.gfn = 0x110, .operation = 2}});
  EXPECT_EQ(f.vmgexit().path, ExitPath::kGhcbPscDone);
  EXPECT_EQ(f.hooks.invalidates.size(), 1u);
  EXPECT_FALSE(f.vm->private_backing(Gfn{0x110}).has_value());
  EXPECT_TRUE(f.vm->private_backing(Gfn{0x111}).has_value());
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

TEST(PscOptions, GhcbInKernelFailureStopsWithTheGenericErrorKeepingProgress) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  f.descriptor({{.gfn = 0x120, .operation = 1}, {.gfn = kOutsideGfn, .operation = 1}});
  EXPECT_EQ(f.vmgexit().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), uint64_t{0x100} << 32) << "the PSC generic error";
  EXPECT_EQ(f.cur_entry(), 1u) << "the first entry's progress is kept";
  EXPECT_EQ(f.entry(0).cur_page, 1u);
  EXPECT_EQ(f.entry(1).cur_page, 0u);
  EXPECT_TRUE(f.is_private(0x120));
  EXPECT_FALSE(f.is_private(kOutsideGfn));
}

TEST(PscOptions, GhcbInKernelEagerPrepareFailureIsTheGenericError) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kEager);
  f.hooks.fail_prepare = true;
  f.descriptor({{.gfn = 0x130, .operation = 1}});
  f.vmgexit();
  EXPECT_EQ(f.info2(), uint64_t{0x100} << 32);
  EXPECT_EQ(f.entry(0).cur_page, 0u);
}

TEST(PscOptions, GhcbInKernelInvalidEntryIsReportedAsByKvm) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  // A 2 MiB entry whose GFN is not 2 MiB aligned: invalid entry, nothing converted.
  f.descriptor({{.gfn = 0x201, .operation = 1, .pagesize = true}});
  f.vmgexit();
  EXPECT_EQ(f.info2(), (uint64_t{1} << 32) | 2);
  EXPECT_FALSE(f.is_private(0x201));
}

TEST(PscOptions, GhcbVmmLazyIsKvmsExitPerRange) {
  OptionsFixture f(PscHandling::kVmm, RmpUpdateTiming::kLazy);
  f.descriptor({{.gfn = 0x140, .operation = 1}, {.gfn = 0x141, .operation = 1}});
  const ExitOutcome o = f.vmgexit();
  ASSERT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kGhcbPscExit);
  EXPECT_EQ(f.vcpu.run.hypercall.args[1], 2u);
  EXPECT_FALSE(f.is_private(0x140));
}

// ------------------------------------------------------------------- Vm::gmem_prepare_gfn

TEST(PscOptions, GmemPrepareGfnRules) {
  OptionsFixture f(PscHandling::kInKernel, RmpUpdateTiming::kLazy);
  auto shared = f.vm->gmem_prepare_gfn(Gfn{0x150});
  ASSERT_FALSE(shared.has_value()) << "a shared GFN has no private page to prepare";
  EXPECT_EQ(shared.error().code, KvmErrno::kEinval);
  auto outside = f.vm->gmem_prepare_gfn(Gfn{kOutsideGfn});
  ASSERT_FALSE(outside.has_value());
  EXPECT_EQ(outside.error().code, KvmErrno::kEinval);
  EXPECT_TRUE(f.hooks.prepares.empty());
  ASSERT_TRUE(f.vm->set_memory_attributes(KvmMemoryAttributes{.address = 0x150 << kPageShift,
                                                              .size = kPageSize,
                                                              .attributes = kKvmMemoryAttributePrivate})
                  .has_value());
  EXPECT_EQ(f.vm->gmem_prepare_gfn(Gfn{0x150}), true) << "first call allocates and prepares";
  EXPECT_EQ(f.vm->gmem_prepare_gfn(Gfn{0x150}), false) << "second call: already prepared";
  EXPECT_EQ(f.hooks.prepares.size(), 1u);
  f.hooks.fail_prepare = true;
  ASSERT_TRUE(f.vm->set_memory_attributes(KvmMemoryAttributes{.address = 0x151 << kPageShift,
                                                              .size = kPageSize,
                                                              .attributes = kKvmMemoryAttributePrivate})
                  .has_value());
  auto failed = f.vm->gmem_prepare_gfn(Gfn{0x151});
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, KvmErrno::kEio) << "the hook's error";
  f.hooks.fail_prepare = false;
  EXPECT_EQ(f.vm->gmem_prepare_gfn(Gfn{0x151}), true) << "a failed prepare is retried";
  EXPECT_TRUE(f.vm->check_invariants().has_value());
}

// ------------------------------------------------------------------------------ names

TEST(PscOptions, NamesRoundTrip) {
  for (PscHandling h : {PscHandling::kVmm, PscHandling::kInKernel}) {
    EXPECT_EQ(parse_psc_handling(psc_handling_name(h)), h);
  }
  for (RmpUpdateTiming t : {RmpUpdateTiming::kLazy, RmpUpdateTiming::kEager}) {
    EXPECT_EQ(parse_rmp_update_timing(rmp_update_timing_name(t)), t);
  }
  EXPECT_EQ(std::string(psc_handling_name(PscHandling::kInKernel)), "in-kernel");
  EXPECT_EQ(std::string(rmp_update_timing_name(RmpUpdateTiming::kEager)), "eager");
  EXPECT_FALSE(parse_psc_handling("kernel").has_value());
  EXPECT_FALSE(parse_rmp_update_timing("").has_value());
  EXPECT_EQ(ExitOptions{}.psc_handling, PscHandling::kVmm) << "KVM's behaviour is the default";
  EXPECT_EQ(ExitOptions{}.rmp_update_timing, RmpUpdateTiming::kLazy);
}

}  // namespace
}  // namespace snpemu::hv::test
