// bench/mmu_bench.cc: a TLB hit vs a full 4-level walk (and a 2-D nested walk), next to a
// baseline of one Memory::read64 (the cost of a single page-table entry read) in the same run.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench/ratio.h"
#include "emu/mem/memory.h"
#include "mmu/mmu.h"

namespace snpemu {
namespace {

using mmu::Access;
using mmu::AccessKind;

constexpr uint64_t kRwU = mmu::kPteP | mmu::kPteRw | mmu::kPteUs | mmu::kPteA;
constexpr uint64_t kVa = 0x0000'7F12'3456'7000;
constexpr int kPages = 4096;  // 16 MiB of 4K pages: more than the TLB holds

// Identity-style 4-level tables at `base`: kPages 4K pages from kVa to data at 0x1000'0000,
// A already set (so the walk does not write). Returns CR3.
uint64_t build_tables(Memory& mem, uint64_t base, uint64_t data_base = 0x1000'0000) {
  const uint64_t pml4 = base, pdpt = base + 0x1000, pd = base + 0x2000, pt0 = base + 0x3000;
  (void)mem.write64(Hpa{pml4 + ((kVa >> 39) & 0x1FF) * 8}, pdpt | kRwU);
  (void)mem.write64(Hpa{pdpt + ((kVa >> 30) & 0x1FF) * 8}, pd | kRwU);
  for (int i = 0; i < kPages; ++i) {
    const uint64_t va = kVa + uint64_t(i) * kPageSize;
    const uint64_t pt = pt0 + ((va >> 21) - (kVa >> 21)) * kPageSize;
    (void)mem.write64(Hpa{pd + ((va >> 21) & 0x1FF) * 8}, pt | kRwU);
    (void)mem.write64(Hpa{pt + ((va >> 12) & 0x1FF) * 8}, (data_base + i * kPageSize) | kRwU);
  }
  return pml4;
}

mmu::PagingRegs long_mode(uint64_t cr3) {
  mmu::PagingRegs r;
  r.cr0 = mmu::kCr0Pg | mmu::kCr0Wp;
  r.cr4 = mmu::kCr4Pae;
  r.efer = mmu::kEferNxe;
  r.cr3 = cr3;
  return r;
}

void BM_Mmu_Baseline_Read64(benchmark::State& state) {
  auto mem = std::move(*Memory::create());
  const uint64_t cr3 = build_tables(*mem, 0x10'0000);
  uint64_t sum = 0, i = 0;
  for (auto _ : state) sum += *mem->read64(Hpa{cr3 + ((i++ & 0x1FF) << 3)});
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Mmu_Baseline_Read64);

void BM_Mmu_TlbHit(benchmark::State& state) {
  auto mem = std::move(*Memory::create());
  const auto regs = long_mode(build_tables(*mem, 0x10'0000));
  mmu::FlatTableAccess tables(*mem);
  const mmu::PagingConfig config;
  auto tlb = std::make_unique<mmu::Tlb>();
  const Access access{AccessKind::kRead, 3, false};
  uint64_t sum = 0, i = 0;
  for (auto _ : state) {
    // 64 pages: always resident, every access a hit.
    const uint64_t va = kVa + ((i++ & 63) << 12) + 8;
    sum += mmu::translate(*tlb, tables, regs, config, Asid{1}, va, access)->pa;
  }
  benchmark::DoNotOptimize(sum);
  state.counters["hit_rate"] =
      double(tlb->stats().hits) / double(tlb->stats().hits + tlb->stats().misses);
}
BENCHMARK(BM_Mmu_TlbHit);
SNPEMU_BENCH_RATIO("BM_Mmu_TlbHit", "BM_Mmu_Baseline_Read64");

void BM_Mmu_Walk4Level(benchmark::State& state) {
  auto mem = std::move(*Memory::create());
  const auto regs = long_mode(build_tables(*mem, 0x10'0000));
  mmu::FlatTableAccess tables(*mem);
  const mmu::PagingConfig config;
  const Access access{AccessKind::kRead, 3, false};
  uint64_t sum = 0, i = 0;
  for (auto _ : state) {
    const uint64_t va = kVa + ((i++ % kPages) << 12);
    sum += mmu::walk(tables, regs, config, va, access)->pa;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Mmu_Walk4Level);
SNPEMU_BENCH_RATIO("BM_Mmu_Walk4Level", "BM_Mmu_Baseline_Read64");
SNPEMU_BENCH_RATIO("BM_Mmu_Walk4Level", "BM_Mmu_TlbHit");

void BM_Mmu_TlbMissTranslate(benchmark::State& state) {
  auto mem = std::move(*Memory::create());
  const auto regs = long_mode(build_tables(*mem, 0x10'0000));
  mmu::FlatTableAccess tables(*mem);
  const mmu::PagingConfig config;
  auto tlb = std::make_unique<mmu::Tlb>();
  const Access access{AccessKind::kRead, 3, false};
  uint64_t sum = 0, i = 0;
  for (auto _ : state) {
    // Stride through 4096 pages: every set overflows, so every access misses and walks.
    const uint64_t va = kVa + ((i++ % kPages) << 12);
    sum += mmu::translate(*tlb, tables, regs, config, Asid{1}, va, access)->pa;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Mmu_TlbMissTranslate);
SNPEMU_BENCH_RATIO("BM_Mmu_TlbMissTranslate", "BM_Mmu_TlbHit");

void BM_Mmu_Nested2D(benchmark::State& state) {
  auto mem = std::move(*Memory::create());
  // Guest tables at GPA 0x10'0000 and data at GPA 0x1000'0000; the NPT (at HPA 0x80'0000)
  // maps GPA 0..1 GiB to HPA 0x4000'0000 + GPA with 2M pages. The guest tables live at their
  // host addresses, so build them at HPA 0x4010'0000 with GPA contents.
  const uint64_t npt = 0x80'0000;
  (void)mem->write64(Hpa{npt}, (npt + 0x1000) | kRwU);
  (void)mem->write64(Hpa{npt + 0x1000}, (npt + 0x2000) | kRwU);
  for (uint64_t i = 0; i < 512; ++i) {
    (void)mem->write64(Hpa{npt + 0x2000 + i * 8}, (0x4000'0000 + (i << 21)) | kRwU | mmu::kPtePs);
  }
  // Guest tables written through the host alias: build them at HPA 0x4010'0000 with GPA links.
  const uint64_t gbase = 0x10'0000, alias = 0x4000'0000;
  auto m = [&](uint64_t gpa, uint64_t v) { (void)mem->write64(Hpa{alias + gpa}, v); };
  m(gbase + ((kVa >> 39) & 0x1FF) * 8, (gbase + 0x1000) | kRwU);
  m(gbase + 0x1000 + ((kVa >> 30) & 0x1FF) * 8, (gbase + 0x2000) | kRwU);
  m(gbase + 0x2000 + ((kVa >> 21) & 0x1FF) * 8, (gbase + 0x3000) | kRwU);
  for (uint64_t i = 0; i < 512; ++i) {
    m(gbase + 0x3000 + i * 8, (0x1000'0000 + i * kPageSize) | kRwU);
  }
  mmu::NestedRegs nregs;
  nregs.nested_cr3 = npt;
  const mmu::PagingConfig config;
  mmu::NestedTableAccess guest_tables(*mem, nregs, config);
  const mmu::NestedPaging paging = guest_tables.paging();
  const auto regs = long_mode(gbase);
  const Access access{AccessKind::kRead, 3, false};
  uint64_t sum = 0, i = 0;
  for (auto _ : state) {
    const uint64_t va = (kVa & ~uint64_t{0x1F'FFFF}) + ((i++ & 511) << 12);
    auto r = mmu::translate_nested(guest_tables, paging, regs, config, va, access);
    if (!r) {
      state.SkipWithError("nested translation faulted");
      break;
    }
    sum += r->pa;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Mmu_Nested2D);
SNPEMU_BENCH_RATIO("BM_Mmu_Nested2D", "BM_Mmu_Walk4Level");

}  // namespace
}  // namespace snpemu
