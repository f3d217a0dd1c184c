// bench/psc_bench.cc: the cost of a Page State Change per converted page under each PSC design
// (issue 6 item 3): the snp_psc_loop payload (//test/guests:snp_psc_loop, 64 pages converted
// shared -> private -> shared kRounds times, touched after every conversion) run by
// vmm::run_guest for {MSR form, GHCB form} x {psc: vmm, in-kernel} x {rmp: lazy, eager}.
//   BM_PscLoop/<form>_<psc>_<rmp>   one iteration = one whole guest run (launch included); the
//                                   table's time is that run's host time and the ratio lines
//                                   compare it with the KVM default (vmm, lazy) of the same form.
// Counters, per converted page (a page converted once; each round converts every page twice),
// from the difference between a kRounds run and a set-up-only run (rounds = 0: launch, GHCB,
// accept, first shared conversion) so the launch and set-up cancel out:
//   cycles_pp      modelled cycles of the vCPU (deterministic: the cores' counts)
//   vmexits_pp     #VMEXITs handled by the hypervisor (deterministic)
//   vmm_exits_pp   KVM_RUN returns to the VMM (deterministic)
//   host_ns_pp     host time (steady_clock around run_guest: the one thing measured here that
//                  is not modelled; mean of the iterations minus one set-up-only run)
//   The baseline's figures come from its own runs, one per iteration, outside the timed region.
//   *_vs_kvm       each of the above divided by the same figure of the KVM-default configuration
//                  of the same form, run in this process (the baseline).
//   *_vs_floor     cycles and host time per page divided by those of BM_RmpupdateFloor (one bare
//                  RMPUPDATE per conversion on a host core, measured in the same process).
//   cycles_to_private_pp / cycles_to_shared_pp   the two directions (cycles_pp is their mean), from
//                  one more run ending with an extra shared -> private conversion.
// Not covered yet: 2 MiB conversions (the payload converts 4 KiB pages).
// Run: bazel run --config=bench //bench:psc_bench -- --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true     (medians of 3)
#include <benchmark/benchmark.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "bench/ratio.h"
#include "emu/kvm/kvm.h"
#include "emu/machine/machine.h"
#include "emu/vmm/runner.h"
#include "test/guests/psc_loop_config.h"

namespace {

using namespace snpemu;
using hv::PscHandling;
using hv::RmpUpdateTiming;
using test::PscLoopForm;

constexpr uint32_t kRounds = 128;
constexpr double kPagesConverted = double{test::kPscLoopPages} * 2 * kRounds;

struct Config {
  PscLoopForm form;
  PscHandling psc;
  RmpUpdateTiming rmp;
};

struct Measured {
  uint64_t cycles = 0, exits = 0, vmm_exits = 0;
  double host_ns = 0;
};

std::expected<std::vector<uint8_t>, std::string> payload(PscLoopForm form, uint32_t rounds,
                                                        bool extra_private) {
  std::ifstream f("test/guests/snp_psc_loop.elf", std::ios::binary);
  if (!f) return std::unexpected("test/guests/snp_psc_loop.elf not found: use bazel run");
  std::vector<uint8_t> elf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!test::patch_psc_loop_config(elf, form, rounds, extra_private)) {
    return std::unexpected("no psc_loop_config in the payload");
  }
  return elf;
}

std::expected<Measured, std::string> run(const Config& c, uint32_t rounds, bool extra_private = false) {
  auto elf = payload(c.form, rounds, extra_private);
  if (!elf) return std::unexpected(elf.error());
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSnp;
  o.mem_bytes = uint64_t{64} << 20;
  o.psc_handling = c.psc;
  o.rmp_update_timing = c.rmp;
  std::ostringstream console;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = vmm::run_guest(*elf, o, console);
  const auto t1 = std::chrono::steady_clock::now();
  if (!r) return std::unexpected(r.error() + "\nconsole:\n" + console.str());
  if (r->end != vmm::GuestRunResult::End::kTerminated || r->reason_set != 0 || r->reason_code != 0) {
    return std::unexpected("the payload did not end with reason 0/0 (set " + std::to_string(r->reason_set) +
                           " code " + std::to_string(r->reason_code) + ")\nconsole:\n" + console.str());
  }
  return Measured{r->cycles, r->exits, r->vmm_exits,
                  std::chrono::duration<double, std::nano>(t1 - t0).count()};
}

struct PerPage {
  double cycles, exits, vmm_exits, host_ns;
};
PerPage per_page(const Measured& full, const Measured& setup) {
  return PerPage{(static_cast<double>(full.cycles) - static_cast<double>(setup.cycles)) / kPagesConverted,
                 (static_cast<double>(full.exits) - static_cast<double>(setup.exits)) / kPagesConverted,
                 (static_cast<double>(full.vmm_exits) - static_cast<double>(setup.vmm_exits)) / kPagesConverted,
                 (full.host_ns - setup.host_ns) / kPagesConverted};
}

double ratio(double a, double b) { return b != 0 ? a / b : 0; }

// The floor (issue 6): the bare RMPUPDATE loop a conversion cannot beat -- one page made
// guest-owned and returned, kFloorPairs times, as host instructions on a machine core (the
// hypervisor's path, cycles from the timing table). Per conversion (one RMPUPDATE).
constexpr uint64_t kFloorPairs = 16384;
std::expected<PerPage, std::string> rmpupdate_floor() {
  MachineConfig mc;
  mc.mem_bytes = uint64_t{512} << 20;
  auto machine = Machine::create(mc);
  if (!machine) return std::unexpected(machine.error());
  auto hyp = kvm::Hypervisor::create(**machine);  // host mode, CPL 0, SNP initialised
  if (!hyp) return std::unexpected(hyp.error().describe());
  cpu::Core& core = (*machine)->core(0);
  const uint64_t hpa = uint64_t{256} << 20;  // above the hypervisor's pool, below the RMP
  rmp::RmpStateView guest;
  guest.assigned = 1;
  guest.asid = 1;
  guest.gpa = 0x400000;
  const uint64_t c0 = core.cycles();
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < kFloorPairs; ++i) {
    auto a = core.rmpupdate(hpa, guest);
    auto b = core.rmpupdate(hpa, rmp::RmpStateView{});
    if (!a || !b || a->rc != rmp::RmpRc::kSuccess || b->rc != rmp::RmpRc::kSuccess) {
      return std::unexpected("RMPUPDATE of the floor loop failed");
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double n = 2.0 * kFloorPairs;
  return PerPage{static_cast<double>(core.cycles() - c0) / n, 0, 0,
                 std::chrono::duration<double, std::nano>(t1 - t0).count() / n};
}

void BM_RmpupdateFloor(benchmark::State& state) {
  PerPage f{};
  for (auto _ : state) {
    auto r = rmpupdate_floor();
    if (!r) return state.SkipWithError(r.error().c_str());
    f = *r;
  }
  state.counters["cycles_pp"] = f.cycles;
  state.counters["host_ns_pp"] = f.host_ns;
}
BENCHMARK(BM_RmpupdateFloor)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_PscLoop(benchmark::State& state, PscLoopForm form, PscHandling psc, RmpUpdateTiming rmp) {
  const Config cfg{form, psc, rmp};
  const Config kvm{form, PscHandling::kVmm, RmpUpdateTiming::kLazy};
  const bool is_kvm = psc == kvm.psc && rmp == kvm.rmp;
  // Set-up-only runs (also the warm-up); the baseline's own runs are paired with each iteration
  // (outside the timed region) so host_vs_kvm compares runs made under the same machine load.
  auto setup = run(cfg, 0);
  auto kvm_setup = is_kvm ? setup : run(kvm, 0);
  if (!setup) return state.SkipWithError(setup.error().c_str());
  if (!kvm_setup) return state.SkipWithError(kvm_setup.error().c_str());
  Measured full, kvm_full;
  double host_ns = 0, kvm_host_ns = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    auto r = run(cfg, kRounds);
    if (!r) return state.SkipWithError(r.error().c_str());
    if (n > 0 && (r->cycles != full.cycles || r->exits != full.exits || r->vmm_exits != full.vmm_exits)) {
      return state.SkipWithError("two runs of the same configuration differ in modelled figures");
    }
    full = *r;
    host_ns += r->host_ns;
    if (!is_kvm) {
      state.PauseTiming();
      auto b = run(kvm, kRounds);
      state.ResumeTiming();
      if (!b) return state.SkipWithError(b.error().c_str());
      kvm_full = *b;
      kvm_host_ns += b->host_ns;
    }
    ++n;
  }
  full.host_ns = host_ns / static_cast<double>(n);
  if (is_kvm) {
    kvm_full = full;
  } else {
    kvm_full.host_ns = kvm_host_ns / static_cast<double>(n);
  }
  const PerPage p = per_page(full, *setup);
  const PerPage k = per_page(kvm_full, *kvm_setup);
  state.counters["cycles_pp"] = p.cycles;
  state.counters["vmexits_pp"] = p.exits;
  state.counters["vmm_exits_pp"] = p.vmm_exits;
  state.counters["host_ns_pp"] = p.host_ns;
  state.counters["cycles_vs_kvm"] = ratio(p.cycles, k.cycles);
  state.counters["vmexits_vs_kvm"] = ratio(p.exits, k.exits);
  state.counters["vmm_exits_vs_kvm"] = ratio(p.vmm_exits, k.vmm_exits);
  state.counters["host_vs_kvm"] = ratio(p.host_ns, k.host_ns);
  // The two directions (modelled cycles only: deterministic; one extra half round is far below
  // the host timer's noise): a run with one more shared -> private conversion after the rounds.
  auto extra = run(cfg, kRounds, /*extra_private=*/true);
  if (!extra) return state.SkipWithError(extra.error().c_str());
  const double to_private = (static_cast<double>(extra->cycles) - static_cast<double>(full.cycles)) / test::kPscLoopPages;
  state.counters["cycles_to_private_pp"] = to_private;
  state.counters["cycles_to_shared_pp"] = 2 * p.cycles - to_private;
  // Against the floor, measured in this process after the runs.
  auto floor = rmpupdate_floor();
  if (!floor) return state.SkipWithError(floor.error().c_str());
  state.counters["cycles_vs_floor"] = ratio(p.cycles, floor->cycles);
  state.counters["host_vs_floor"] = ratio(p.host_ns, floor->host_ns);
}

constexpr PscLoopForm kMsr = PscLoopForm::kMsr, kGhcb = PscLoopForm::kGhcb;
constexpr PscHandling kVmm = PscHandling::kVmm, kKernel = PscHandling::kInKernel;
constexpr RmpUpdateTiming kLazy = RmpUpdateTiming::kLazy, kEager = RmpUpdateTiming::kEager;

#define PSC_BENCH(name, form, psc, rmp) \
  BENCHMARK_CAPTURE(BM_PscLoop, name, form, psc, rmp)->Unit(benchmark::kMillisecond)->Iterations(3)

PSC_BENCH(msr_vmm_lazy, kMsr, kVmm, kLazy);
PSC_BENCH(msr_vmm_eager, kMsr, kVmm, kEager);
PSC_BENCH(msr_in_kernel_lazy, kMsr, kKernel, kLazy);
PSC_BENCH(msr_in_kernel_eager, kMsr, kKernel, kEager);
PSC_BENCH(ghcb_vmm_lazy, kGhcb, kVmm, kLazy);
PSC_BENCH(ghcb_vmm_eager, kGhcb, kVmm, kEager);
PSC_BENCH(ghcb_in_kernel_lazy, kGhcb, kKernel, kLazy);
PSC_BENCH(ghcb_in_kernel_eager, kGhcb, kKernel, kEager);

SNPEMU_BENCH_RATIO("BM_PscLoop/msr_vmm_eager", "BM_PscLoop/msr_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/msr_in_kernel_lazy", "BM_PscLoop/msr_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/msr_in_kernel_eager", "BM_PscLoop/msr_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/ghcb_vmm_eager", "BM_PscLoop/ghcb_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/ghcb_in_kernel_lazy", "BM_PscLoop/ghcb_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/ghcb_in_kernel_eager", "BM_PscLoop/ghcb_vmm_lazy");
SNPEMU_BENCH_RATIO("BM_PscLoop/ghcb_vmm_lazy", "BM_PscLoop/msr_vmm_lazy");

}  // namespace
