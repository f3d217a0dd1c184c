// bench/exit_bench.cc: the cost of a guest exit under the hypervisor model, modelled and on the
// host (issue 4, "Done when"):
//   BM_Exit_CpuidModel          (runs once) the modelled cycles of one CPUID round trip of a
//                               plain SVM guest, counted exactly over kModelRoundTrips, split by
//                               timing-table row with each row's source, and compared with the
//                               public anchors on AMD hardware.
//   BM_Exit_CpuidRoundTrip      host time of one KVM-internal round trip: guest CPUID ->
//                               #VMEXIT -> VMSAVE/VMLOAD/STGI -> CPUID handler -> CLGI/VMLOAD ->
//                               VMRUN -> back in the guest (one Vcpu::run per iteration, its
//                               budget exactly one round trip's modelled cycles).
//   BM_Exit_BareVmrunRoundTrip  host time of Core::vmrun -> guest CPUID intercept -> #VMEXIT,
//                               no handler, next to Bochs 2.7 / QEMU 7.2 TCG / the 1 us target.
//   BM_Native_Cpuid             baseline: CPUID executed by this process on the host CPU.
// The SEV-ES round trip (#VC + GHCB + VMGEXIT): BM_Exit_SevEsCpuidRoundTrip, on the guest
// //test/guests:sev_es_cpuid_loop.
#include <benchmark/benchmark.h>

#include <fstream>
#include <iterator>

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <expected>
#include <memory>
#include <string>

#include "bench/ratio.h"
#include "cpu/cpu.h"
#include "emu/hv/hv.h"
#include "emu/kvm/kvm.h"
#include "emu/machine/machine.h"
#include "emu/vmm/guest_boot.h"

namespace {

using namespace snpemu;
using cpu::Cost;

constexpr uint64_t kGuestMem = uint64_t{16} << 20;
constexpr uint64_t kCodeGpa = 0x100000;
// L: xor eax, eax; xor ecx, ecx; cpuid; jmp L   (leaf 0, subleaf 0 every time)
constexpr uint8_t kCpuidLoop[] = {0x31, 0xC0, 0x31, 0xC9, 0x0F, 0xA2, 0xEB, 0xF8};
// A host page below the hypervisor's pool (kvm::kHostFirstPfn): free RAM for the bare VMCB.
constexpr uint64_t kBareVmcbHpa = 0x10000;
constexpr uint64_t kModelRoundTrips = 1000;

// Public anchors (issue 4): kvm-unit-tests vmexit CPUID round trip (kvm list, Dec 2024); VMRUN
// through #VMEXIT (KVM on Zen 2/3, kvm list, Dec 2020); host time per VMRUN round trip of
// Bochs 2.7 and QEMU 7.2 TCG measured on this kind of machine; the project's target.
constexpr double kCpuidRtLo = 1020, kCpuidRtHi = 1110;
constexpr double kVmrunExitLo = 1344, kVmrunExitHi = 1376;
constexpr double kBochsNs = 6400, kQemuLoNs = 15000, kQemuHiNs = 17000, kTargetNs = 1000;

// A one-vCPU VM whose guest runs kCpuidLoop, warmed up (guest RAM faulted in through NPF) and
// stopped between two round trips (the CPUID handler done, the next VMRUN not yet issued).
struct CpuidGuest {
  std::unique_ptr<Machine> machine;
  std::unique_ptr<kvm::Hypervisor> hyp;
  std::unique_ptr<kvm::VirtualMachine> vm;
  kvm::Vcpu& vcpu() { return vm->vcpu(0); }
  uint64_t cpuid_exits() { return vcpu().exit_counts()[static_cast<size_t>(hv::ExitPath::kCpuid)]; }
};

std::string describe_exit(kvm::Vcpu& v) {
  return std::string("KVM_RUN returned ") + hv::kvm_exit_reason_name(v.kvm_run().exit_reason) +
         (v.kvm_run().message.empty() ? "" : ": " + v.kvm_run().message);
}

// One Vcpu::run with a one-cycle budget; returns an error line if KVM_RUN exited to the VMM.
std::expected<void, std::string> run_1(kvm::Vcpu& v) {
  if (v.run(1) != kvm::RunStatus::kPreempted) return std::unexpected(describe_exit(v));
  return {};
}

// From between two round trips to between the next two, one guest instruction per Vcpu::run;
// returns the modelled cycles that took.
std::expected<uint64_t, std::string> step_round_trip(CpuidGuest& g) {
  kvm::Vcpu& v = g.vcpu();
  const uint64_t c0 = v.core().cycles(), n0 = g.cpuid_exits();
  if (auto r = run_1(v); !r) return std::unexpected(r.error());  // CLGI, VMLOAD, VMRUN
  if (!v.core().in_guest()) return std::unexpected("VMRUN did not enter the guest");
  for (int i = 0; i < 16 && v.core().in_guest(); ++i) {
    if (auto r = run_1(v); !r) return std::unexpected(r.error());
  }
  if (v.core().in_guest() || g.cpuid_exits() != n0 + 1) {
    return std::unexpected("expected one CPUID exit within 16 guest instructions, got " +
                           std::to_string(g.cpuid_exits() - n0));
  }
  return v.core().cycles() - c0;
}

std::expected<CpuidGuest, std::string> make_cpuid_guest() {
  CpuidGuest g;
  auto machine = Machine::create(vmm::host_config(hv::VmType::kDefault, kGuestMem, 1));
  if (!machine) return std::unexpected(machine.error());
  g.machine = std::move(*machine);
  auto hyp = kvm::Hypervisor::create(*g.machine);
  if (!hyp) return std::unexpected(hyp.error().describe());
  g.hyp = std::move(*hyp);
  kvm::VmSpec spec;
  spec.memory_bytes = kGuestMem;
  auto vm = g.hyp->create_vm(spec);
  if (!vm) return std::unexpected(vm.error().describe());
  g.vm = std::move(*vm);
  if (auto b = vmm::write_boot_pages(*g.vm); !b) return std::unexpected(b.error());
  if (kCodeGpa < vmm::guest_code_floor()) return std::unexpected("guest code overlaps the boot layout");
  if (auto w = g.vm->write_guest(kCodeGpa, kCpuidLoop); !w) return std::unexpected(w.error().describe());
  g.vcpu().set_long_mode_start(vmm::boot_start(kCodeGpa, 0));
  // Warm up: NPF map-on-demand for the code and the guest's page tables, then a few round trips.
  while (g.cpuid_exits() < 8) {
    if (g.vcpu().run(100'000) != kvm::RunStatus::kPreempted) return std::unexpected(describe_exit(g.vcpu()));
  }
  for (int i = 0; i < 64 && g.vcpu().core().in_guest(); ++i) {
    if (auto r = run_1(g.vcpu()); !r) return std::unexpected(r.error());
  }
  if (g.vcpu().core().in_guest()) return std::unexpected("the guest did not exit within 64 instructions");
  return g;
}

// ---------------------------------------------------------------------------- the model, once

struct Row {
  Cost cost;
  uint64_t count;
  const char* what;
};
// What one round trip of kCpuidLoop charges, by timing-table row (emu/kvm/vcpu_run.cc order).
constexpr Row kCpuidRoundTripRows[] = {
    {Cost::kAlu, 2, "guest XOR EAX,EAX; XOR ECX,ECX (loop)"},
    {Cost::kBranch, 1, "guest JMP (loop)"},
    {Cost::kVmexit, 1, "#VMEXIT (CPUID intercept)"},
    {Cost::kVmsave, 1, "VMSAVE guest"},
    {Cost::kVmload, 2, "VMLOAD host + VMLOAD guest"},
    {Cost::kGif, 2, "STGI + CLGI"},
    {Cost::kHvExitDispatch, 1, "svm_handle_exit dispatch"},
    {Cost::kHvCpuid, 1, "CPUID handler (kvm_emulate_cpuid + skip)"},
    {Cost::kVmrun, 1, "VMRUN"},
};

void print_row(uint64_t count, const cpu::CostRow& row, const char* what) {
  std::printf("  %5" PRIu64 " = %3" PRIu64 " x %4u  %-44s %.*s\n", count * row.cycles, count, row.cycles, what,
              static_cast<int>(row.source.size()), row.source.data());
}

void BM_Exit_CpuidModel(benchmark::State& state) {
  auto g = make_cpuid_guest();
  if (!g) return state.SkipWithError(g.error().c_str());
  const cpu::TimingTable& t = *g->vcpu().core().config().timing;
  uint64_t per_rt = 0, tlb_misses = 0;
  for (auto _ : state) {
    auto first = step_round_trip(*g);
    if (!first) return state.SkipWithError(first.error().c_str());
    per_rt = *first;
    const uint64_t c0 = g->vcpu().core().cycles(), n0 = g->cpuid_exits();
    const uint64_t m0 = g->vcpu().core().tlb().stats().misses;
    for (uint64_t i = 0; i < kModelRoundTrips; ++i) {
      if (g->vcpu().run(per_rt) != kvm::RunStatus::kPreempted) return state.SkipWithError(describe_exit(g->vcpu()).c_str());
    }
    const uint64_t cycles = g->vcpu().core().cycles() - c0, exits = g->cpuid_exits() - n0;
    tlb_misses = g->vcpu().core().tlb().stats().misses - m0;
    if (exits != kModelRoundTrips || cycles != kModelRoundTrips * per_rt) {
      const std::string e = "expected " + std::to_string(kModelRoundTrips) + " CPUID exits in " +
                            std::to_string(kModelRoundTrips * per_rt) + " cycles, got " +
                            std::to_string(exits) + " in " + std::to_string(cycles);
      return state.SkipWithError(e.c_str());
    }
  }
  std::printf("\nModelled plain-SVM CPUID round trip, %" PRIu64 " cycles exactly (counted over %" PRIu64
              " round trips), by timing-table row:\n",
              per_rt, kModelRoundTrips);
  uint64_t sum = 0, vmrun_vmexit = 0;
  for (const Row& r : kCpuidRoundTripRows) {
    const cpu::CostRow& row = t[static_cast<size_t>(r.cost)];
    sum += r.count * row.cycles;
    if (r.cost == Cost::kVmrun || r.cost == Cost::kVmexit) vmrun_vmexit += row.cycles;
    print_row(r.count, row, r.what);
  }
  // The rest is the 2-D walk refilling the guest's translations: the model flushes the TLB at
  // every #VMEXIT (see README / the report), and both the walk-step and the RMP-check rows may
  // be charged. The bench sees only their sum; it must be whole rows of equal size.
  const cpu::CostRow& walk = t[static_cast<size_t>(Cost::kWalkStep)];
  const cpu::CostRow& rmp = t[static_cast<size_t>(Cost::kRmpCheck)];
  const uint64_t rest = per_rt > sum ? per_rt - sum : 0;
  if (per_rt < sum || (rest != 0 && (walk.cycles != rmp.cycles || rest % walk.cycles != 0))) {
    std::printf("  %5" PRIu64 "   sum of the rows ** DIFFERS from the counted round trip **\n", sum);
    return state.SkipWithError("the row breakdown does not add up to the counted cycles");
  }
  if (rest != 0) {
    std::printf("  TLB misses per round trip: %.2f; the refill walk charges:\n",
                static_cast<double>(tlb_misses) / static_cast<double>(kModelRoundTrips));
    print_row(rest / walk.cycles, walk, "walk steps + RMP checks (sum of both rows)");
    print_row(0, rmp, "(RMP check row: counted in the line above)");
  }
  std::printf("  %5" PRIu64 "   = the counted round trip\n", sum + rest);
  const double rt = static_cast<double>(per_rt), ve = static_cast<double>(vmrun_vmexit);
  std::printf("Anchors:\n");
  std::printf("  CPUID round trip %" PRIu64 " vs 1,020-1,110 (kvm-unit-tests vmexit, kvm list Dec 2024): "
              "%.3f-%.3fx, %s\n",
              per_rt, rt / kCpuidRtHi, rt / kCpuidRtLo,
              rt >= kCpuidRtLo * 0.9 && rt <= kCpuidRtHi * 1.1 ? "within 10%" : "OUTSIDE 10%");
  if (rest != 0) {
    const double no_refill = static_cast<double>(per_rt - rest);
    std::printf("    without the refill walk (no TLB flush at #VMEXIT, as ASID-tagged hardware): %" PRIu64
                ", %.3f-%.3fx\n",
                per_rt - rest, no_refill / kCpuidRtHi, no_refill / kCpuidRtLo);
  }
  std::printf("  VMRUN+#VMEXIT %" PRIu64 " vs 1,344-1,376 (KVM on Zen 2/3, kvm list Dec 2020): %.3f-%.3fx, %s\n",
              vmrun_vmexit, ve / kVmrunExitHi, ve / kVmrunExitLo,
              ve >= kVmrunExitLo * 0.9 && ve <= kVmrunExitHi * 1.1 ? "within 10%" : "OUTSIDE 10%");
  std::printf("    Not expected to match: the profile is calibrated to the 2024 CPUID round trip, and the\n"
              "    2020 figure alone exceeds that whole round trip (older parts; its span likely includes\n"
              "    VMLOAD/VMSAVE/GIF work around VMRUN). One profile cannot meet both anchors.\n");
  std::printf("SEV-ES round trip (#VC + GHCB + VMGEXIT): BM_Exit_SevEsCpuidRoundTrip (no public anchor found).\n");
  std::printf("BM_Exit_BareVmrunRoundTrip's x_* counters are host time / the comparison time (Bochs 2.7\n"
              "6.4 us, QEMU 7.2 TCG 15 and 17 us, target 1 us); Google Benchmark prints these inverted\n"
              "rates with an 's' suffix: read 0.25s as 0.25x.\n\n");
  state.counters["model_cycles/rt"] = rt;
  state.counters["model_vmrun+vmexit"] = ve;
  state.counters["x_kut2024_mid"] = rt / ((kCpuidRtLo + kCpuidRtHi) / 2);
  state.counters["x_zen23_2020_mid"] = ve / ((kVmrunExitLo + kVmrunExitHi) / 2);
}
BENCHMARK(BM_Exit_CpuidModel)->Iterations(1);

// ---------------------------------------------------------------------------- host time

void BM_Exit_CpuidRoundTrip(benchmark::State& state) {
  auto g = make_cpuid_guest();
  if (!g) return state.SkipWithError(g.error().c_str());
  auto rt = step_round_trip(*g);
  if (!rt) return state.SkipWithError(rt.error().c_str());
  kvm::Vcpu& v = g->vcpu();
  const uint64_t c0 = v.core().cycles(), n0 = g->cpuid_exits();
  for (auto _ : state) {
    if (v.run(*rt) != kvm::RunStatus::kPreempted) return state.SkipWithError(describe_exit(v).c_str());
  }
  const uint64_t n = static_cast<uint64_t>(state.iterations());
  if (g->cpuid_exits() - n0 != n || v.core().cycles() - c0 != n * *rt) {
    return state.SkipWithError("an iteration was not exactly one CPUID round trip");
  }
  state.counters["model_cycles/rt"] = static_cast<double>(*rt);
}
BENCHMARK(BM_Exit_CpuidRoundTrip);
SNPEMU_BENCH_RATIO("BM_Exit_CpuidRoundTrip", "BM_Native_Cpuid");

// ---------------------------------------------------------------------------- SEV-ES

// The SEV-ES guest //test/guests:sev_es_cpuid_loop (a runfile of this bench: run it with `bazel
// run`): CPUID forever, each one a #VC, a GHCB CPUID request, a VMGEXIT and the way back (IRET).
// Memory encryption is off on this machine, as `snpemu run --sev sev-es` runs it (see
// emu/vmm/runner.h); the model's cycles for a round trip do not depend on it.
void BM_Exit_SevEsCpuidRoundTrip(benchmark::State& state) {
  std::ifstream f("test/guests/sev_es_cpuid_loop.elf", std::ios::binary);
  if (!f) return state.SkipWithError("test/guests/sev_es_cpuid_loop.elf not found: use bazel run");
  const std::vector<uint8_t> elf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto machine = Machine::create(vmm::host_config(hv::VmType::kSevEs, kGuestMem, 1));
  if (!machine) return state.SkipWithError(machine.error().c_str());
  auto hyp = kvm::Hypervisor::create(**machine);
  if (!hyp) return state.SkipWithError(hyp.error().describe().c_str());
  kvm::VmSpec spec;
  spec.type = hv::VmType::kSevEs;
  spec.memory_bytes = kGuestMem;
  auto vm = (*hyp)->create_vm(spec);
  if (!vm) return state.SkipWithError(vm.error().describe().c_str());
  kvm::Vcpu& v = (*vm)->vcpu(0);
  const uint64_t c_bit = uint64_t{1} << v.core().config().paging.c_bit;
  auto entry = vmm::load_guest_image(**vm, elf, kGuestMem, c_bit);
  if (!entry) return state.SkipWithError(entry.error().c_str());
  v.set_long_mode_start(vmm::boot_start(*entry, 0));
  auto cpuid_exits = [&] { return v.exit_counts()[static_cast<size_t>(hv::ExitPath::kCpuid)]; };
  // Warm up: set-up done ("ready" printed) and a few round trips made.
  for (int i = 0; i < 10000 && ((*vm)->context().pio.debug_console.output.find("ready") == std::string::npos ||
                                cpuid_exits() < 64); ++i) {
    if (v.run(100'000) != kvm::RunStatus::kPreempted) return state.SkipWithError(describe_exit(v).c_str());
  }
  if (cpuid_exits() < 64) return state.SkipWithError("the SEV-ES guest did not reach its CPUID loop");
  const uint64_t c0 = v.core().cycles(), n0 = cpuid_exits();
  for (auto _ : state) {
    if (v.run(20'000) != kvm::RunStatus::kPreempted) return state.SkipWithError(describe_exit(v).c_str());
  }
  const uint64_t n = cpuid_exits() - n0;
  if (n == 0) return state.SkipWithError("no CPUID round trips");
  state.counters["model_cycles/rt"] = static_cast<double>(v.core().cycles() - c0) / static_cast<double>(n);
  state.counters["round_trips"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Exit_SevEsCpuidRoundTrip);

void BM_Exit_BareVmrunRoundTrip(benchmark::State& state) {
  auto g = make_cpuid_guest();
  if (!g) return state.SkipWithError(g.error().c_str());
  // The warmed-up guest's VMCB (NPT, ASID, intercepts, save area at the loop) on its own page,
  // VMRUN directly on the host-instruction path: after the first exit the saved RIP is the
  // CPUID itself, so every VMRUN re-executes it and exits again.
  cpu::Core& core = g->vcpu().core();
  const svm::Vmcb& vmcb = g->vcpu().vmcb();
  Memory& mem = g->machine->memory();
  if (!mem.write(Hpa{kBareVmcbHpa}, std::span(reinterpret_cast<const uint8_t*>(&vmcb), sizeof vmcb))) {
    return state.SkipWithError("cannot write the bare VMCB");
  }
  // One round trip first: it also runs JMP, XOR, XOR from the handler's RIP up to the CPUID.
  if (auto e = core.vmrun(kBareVmcbHpa); !e || !*e || core.run(uint64_t{1} << 20) != cpu::StopReason::kVmexit) {
    return state.SkipWithError("the first bare VMRUN did not reach the CPUID exit");
  }
  const uint64_t c0 = core.cycles();
  for (auto _ : state) {
    auto entered = core.vmrun(kBareVmcbHpa);
    if (!entered || !*entered) return state.SkipWithError("VMRUN did not enter the guest");
    if (core.run(uint64_t{1} << 20) != cpu::StopReason::kVmexit) return state.SkipWithError("no #VMEXIT");
  }
  uint64_t exit_code = 0;
  (void)mem.read(Hpa{kBareVmcbHpa + offsetof(svm::Vmcb, control) + offsetof(svm::VmcbControlArea, exit_code)},
                 std::span(reinterpret_cast<uint8_t*>(&exit_code), sizeof exit_code));
  if (exit_code != svm::to_u64(svm::ExitCode::kCpuid)) return state.SkipWithError("the last exit was not VMEXIT_CPUID");
  const double n = static_cast<double>(state.iterations());
  state.counters["model_cycles/rt"] = static_cast<double>(core.cycles() - c0) / n;
  using C = benchmark::Counter;
  state.counters["x_bochs_6.4us"] = C(n * kBochsNs * 1e-9, C::kIsRate | C::kInvert);
  state.counters["x_qemu_15us"] = C(n * kQemuLoNs * 1e-9, C::kIsRate | C::kInvert);
  state.counters["x_qemu_17us"] = C(n * kQemuHiNs * 1e-9, C::kIsRate | C::kInvert);
  state.counters["x_target_1us"] = C(n * kTargetNs * 1e-9, C::kIsRate | C::kInvert);
}
BENCHMARK(BM_Exit_BareVmrunRoundTrip);
SNPEMU_BENCH_RATIO("BM_Exit_BareVmrunRoundTrip", "BM_Native_Cpuid");

// Baseline: CPUID on the host CPU (leaf 0). On a virtualised host this is itself a real
// hardware CPUID exit round trip handled by the host's hypervisor.
void BM_Native_Cpuid(benchmark::State& state) {
  for (auto _ : state) {
    uint32_t a = 0, b = 0, c = 0, d = 0;
    asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    benchmark::DoNotOptimize(a + b + c + d);
  }
}
BENCHMARK(BM_Native_Cpuid);

}  // namespace
