// bench/rmp_bench.cc: RMP lookups (contiguous and segmented) over RMPs covering 1 GiB, 64 GiB
// and 1 TiB of host memory, each next to a plain-array baseline in the same run; the full guest
// access check; RMPUPDATE and PSMASH throughput. Arguments are the covered size in GiB.
//
// Working set. 1 GiB and 64 GiB: every entry of the covered memory is populated (4 MiB and
// 256 MiB of entries, in the RMP and in the baseline array alike). 1 TiB: a full table is 4 GiB
// per side and takes minutes to populate, so both sides populate the same bounded working set:
// 4096 windows of 4096 pages (64 KiB of entries each, 256 MiB in total) spread evenly over the
// 1 TiB of PFNs. The baseline array for 1 TiB is one mmap(MAP_NORESERVE) of 4 GiB of which only
// those windows are touched; lookups (sequential or random) only visit PFNs inside the windows,
// on both sides, so both pay the same cache and TLB footprint per window.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "bench/ratio.h"
#include "emu/mem/memory.h"
#include "rmp/rmp.h"

namespace snpemu::rmp {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kSeed = 0x5eed'0002;       // explicit seed for the random streams
constexpr uint64_t kBatch = 4096;             // lookups per benchmark iteration
constexpr uint64_t kStream = uint64_t{1} << 20;  // PFNs per precomputed stream
constexpr uint32_t kAsid = 1;

constexpr uint64_t gpa_for(uint64_t pfn) { return (pfn << 12) + (uint64_t{1} << 44); }

// The PFNs that are populated for a covered size (see the file comment).
struct WorkingSet {
  uint64_t pages = 0;          // covered pages
  uint64_t window_pages = 0;   // pages per window
  uint64_t windows = 0;
  uint64_t stride = 0;         // pages between window starts
  uint64_t size() const { return window_pages * windows; }
  uint64_t pfn(uint64_t i) const { return (i / window_pages) * stride + i % window_pages; }
};

WorkingSet working_set(uint64_t gib) {
  WorkingSet w;
  w.pages = gib * kGiB >> 12;
  if (gib <= 64) {
    w.window_pages = w.pages;
    w.windows = 1;
    w.stride = w.pages;
  } else {
    w.window_pages = 4096;
    w.windows = 4096;
    w.stride = w.pages / w.windows;
  }
  return w;
}

std::vector<uint64_t> stream(const WorkingSet& w, bool random) {
  std::vector<uint64_t> out(kStream);
  uint64_t x = kSeed;
  for (uint64_t i = 0; i < kStream; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = w.pfn(random ? x % w.size() : i % w.size());
  }
  return out;
}

// The populated state every entry of the working set gets: a validated private 4K page.
RmpEntry populated(uint64_t pfn) {
  return RmpEntry{true, PageSize::k4K, false, true, false, Asid{kAsid}, Gpa{gpa_for(pfn)},
                  {perm::kRead, 0, 0}};
}

struct RmpSetup {
  std::unique_ptr<Memory> mem;
  std::optional<Rmp> rmp;
};

// Contiguous: RAM = covered + room for the table at the top. Segmented: 4 GiB segments
// (RMP_CFG shift 32), one RST entry per 4 GiB of covered memory, tables above the covered range.
std::unique_ptr<RmpSetup> make_rmp(uint64_t gib, bool segmented) {
  auto s = std::make_unique<RmpSetup>();
  const uint64_t covered = gib * kGiB;
  const uint64_t room = covered / 128 + (uint64_t{64} << 20);
  s->mem = std::move(*Memory::create(covered + room));
  const uint64_t base = covered;
  std::expected<Rmp, RmpConfigError> r = std::unexpected(RmpConfigError{});
  if (!segmented) {
    r = Rmp::create(*s->mem, RmpMsrs{kSyscfgSnpEn, base, s->mem->size() - 1, 0});
  } else {
    const unsigned shift = 32;
    const uint64_t segments = (covered + (uint64_t{1} << shift) - 1) >> shift;
    const uint64_t table_bytes = ((uint64_t{1} << shift) >> 12) * 16;
    for (uint64_t i = 0; i < segments; ++i) {
      const uint64_t table = base + (uint64_t{1} << 20) + i * table_bytes;
      const uint64_t mapped_gib = std::min<uint64_t>(4, gib);
      (void)s->mem->write64(Hpa{base + kRmpBookkeepingSize + i * 8}, table | mapped_gib);
    }
    r = Rmp::create(*s->mem, RmpMsrs{kSyscfgSnpEn, base, 0, kRmpCfgSegmented | (shift << 8)},
                    SegmentedRmpCpuid{21u | (40u << 6), 0});
  }
  if (!r) {
    std::fprintf(stderr, "rmp_bench: %s\n", r.error().message().c_str());
    std::abort();
  }
  s->rmp.emplace(std::move(*r));
  if (!s->rmp->direct_lookup()) {
    std::fprintf(stderr, "rmp_bench: %s RMP of %" PRIu64 " GiB is not on its fast path: %s\n",
                 segmented ? "segmented" : "contiguous", gib,
                 s->rmp->backing_error()->message().c_str());
  }
  const WorkingSet w = working_set(gib);
  for (uint64_t i = 0; i < w.size(); ++i) s->rmp->store(Pfn{w.pfn(i)}, populated(w.pfn(i)));
  return s;
}

// Baseline: a plain array of 16-byte entries indexed by PFN (mmap'd, untouched parts free).
struct ArraySetup {
  RawRmpEntry* entries = nullptr;
  uint64_t bytes = 0;
  ~ArraySetup() {
    if (entries != nullptr) munmap(entries, bytes);
  }
};

std::unique_ptr<ArraySetup> make_array(uint64_t gib) {
  auto a = std::make_unique<ArraySetup>();
  const WorkingSet w = working_set(gib);
  a->bytes = w.pages * sizeof(RawRmpEntry);
  void* p = mmap(nullptr, a->bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) std::abort();
  a->entries = static_cast<RawRmpEntry*>(p);
  for (uint64_t i = 0; i < w.size(); ++i) a->entries[w.pfn(i)] = encode(populated(w.pfn(i)));
  return a;
}

// Setups are built once per configuration and kept for the whole run (building the 64 GiB and
// 1 TiB ones takes seconds; Google Benchmark calls each function several times).
struct Setups {
  std::map<std::pair<uint64_t, bool>, std::unique_ptr<RmpSetup>> rmps;
  std::map<uint64_t, std::unique_ptr<ArraySetup>> arrays;
  std::map<std::pair<uint64_t, bool>, std::vector<uint64_t>> streams;
  Rmp& rmp(uint64_t gib, bool segmented) {
    auto& s = rmps[{gib, segmented}];
    if (!s) s = make_rmp(gib, segmented);
    return *s->rmp;
  }
  const RawRmpEntry* array(uint64_t gib) {
    auto& a = arrays[gib];
    if (!a) a = make_array(gib);
    return a->entries;
  }
  const std::vector<uint64_t>& pfns(uint64_t gib, bool random) {
    auto& v = streams[{gib, random}];
    if (v.empty()) v = stream(working_set(gib), random);
    return v;
  }
};
Setups& setups() {
  static Setups s;  // benchmark binary only: holds fixtures, no model state shared across runs
  return s;
}

template <bool kRandom>
void BM_Array(benchmark::State& state) {
  const uint64_t gib = uint64_t(state.range(0));
  const RawRmpEntry* table = setups().array(gib);
  const std::vector<uint64_t>& pfns = setups().pfns(gib, kRandom);
  uint64_t at = 0, sum = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kBatch; ++i) {
      const RawRmpEntry e = table[pfns[(at + i) & (kStream - 1)]];
      sum += e.lo ^ e.hi;
    }
    at += kBatch;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * kBatch));
}

template <bool kRandom, bool kSegmented>
void BM_RmpLookup(benchmark::State& state) {
  const uint64_t gib = uint64_t(state.range(0));
  const Rmp& rmp = setups().rmp(gib, kSegmented);
  const std::vector<uint64_t>& pfns = setups().pfns(gib, kRandom);
  uint64_t at = 0, sum = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kBatch; ++i) {
      const RawRmpEntry e = rmp.lookup(Pfn{pfns[(at + i) & (kStream - 1)]}).value_or(RawRmpEntry{});
      sum += e.lo ^ e.hi;
    }
    at += kBatch;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * kBatch));
}

// The full private-access check (lookup + every rule) of a VMPL1 read that passes them all.
template <bool kSegmented>
void BM_GuestCheck(benchmark::State& state) {
  const uint64_t gib = uint64_t(state.range(0));
  const Rmp& rmp = setups().rmp(gib, kSegmented);
  const std::vector<uint64_t>& pfns = setups().pfns(gib, true);
  GuestAccess a;
  a.ctx = {Asid{kAsid}, Vmpl{1}};
  a.c_bit = true;
  uint64_t at = 0, faults = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < kBatch; ++i) {
      const uint64_t pfn = pfns[(at + i) & (kStream - 1)];
      a.gpa = Gpa{gpa_for(pfn)};
      a.hpa = hpa_of(Pfn{pfn});
      faults += check_guest_access(rmp, a).fault.has_value();
    }
    at += kBatch;
    benchmark::DoNotOptimize(faults);
  }
  if (faults != 0) state.SkipWithError("guest check faulted on a populated page");
  state.SetItemsProcessed(int64_t(state.iterations() * kBatch));
}

#define RMP_SIZES Arg(1)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond)
BENCHMARK_TEMPLATE(BM_Array, false)->Name("BM_Array_Seq")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_Array, true)->Name("BM_Array_Random")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_RmpLookup, false, false)->Name("BM_RmpLookup_Contig_Seq")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_RmpLookup, true, false)->Name("BM_RmpLookup_Contig_Random")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_RmpLookup, false, true)->Name("BM_RmpLookup_Seg_Seq")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_RmpLookup, true, true)->Name("BM_RmpLookup_Seg_Random")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_GuestCheck, false)->Name("BM_GuestCheck_Contig_Random")->RMP_SIZES;
BENCHMARK_TEMPLATE(BM_GuestCheck, true)->Name("BM_GuestCheck_Seg_Random")->RMP_SIZES;
SNPEMU_BENCH_RATIO("BM_RmpLookup_Contig_Seq", "BM_Array_Seq");
SNPEMU_BENCH_RATIO("BM_RmpLookup_Contig_Random", "BM_Array_Random");
SNPEMU_BENCH_RATIO("BM_RmpLookup_Seg_Seq", "BM_Array_Seq");
SNPEMU_BENCH_RATIO("BM_RmpLookup_Seg_Random", "BM_Array_Random");
SNPEMU_BENCH_RATIO("BM_GuestCheck_Contig_Random", "BM_Array_Random");
SNPEMU_BENCH_RATIO("BM_GuestCheck_Seg_Random", "BM_Array_Random");

// RMPUPDATE throughput: 4K make-private then make-shared of pages spread over 1 GiB.
void BM_Rmpupdate4K(benchmark::State& state) {
  auto setup = make_rmp(1, false);
  Rmp& rmp = *setup->rmp;
  const std::vector<uint64_t> pfns = stream(working_set(1), true);
  uint64_t at = 0, failures = 0;
  for (auto _ : state) {
    const uint64_t pfn = pfns[at++ & (kStream - 1)];
    RmpStateView s;
    if (!rmp.entry(Pfn{pfn}).assigned) {
      s = RmpStateView{gpa_for(pfn), 1, 0, 0, 0, kAsid};
    }
    failures += rmpupdate(rmp, hpa_of(Pfn{pfn}), s).rc != RmpRc::kSuccess;
  }
  if (failures != 0) state.SkipWithError("RMPUPDATE failed");
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_Rmpupdate4K);

// RMPUPDATE 2M make-private then make-shared (512 entries written each).
void BM_Rmpupdate2M(benchmark::State& state) {
  auto setup = make_rmp(1, false);
  Rmp& rmp = *setup->rmp;
  // Region 0 of the populated 1 GiB is 4K-assigned: make it shared first.
  for (uint64_t i = 0; i < 512; ++i) (void)rmpupdate(rmp, hpa_of(Pfn{i}), RmpStateView{});
  uint64_t failures = 0;
  bool assigned = false;
  for (auto _ : state) {
    const RmpStateView s = assigned ? RmpStateView{0, 0, 1, 0, 0, 0}
                                    : RmpStateView{gpa_for(0), 1, 1, 0, 0, kAsid};
    failures += rmpupdate(rmp, Hpa{0}, s).rc != RmpRc::kSuccess;
    assigned = !assigned;
  }
  if (failures != 0) state.SkipWithError("RMPUPDATE 2M failed");
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_Rmpupdate2M);

// PSMASH throughput: 64 regions prepared as 2M pages outside the timed region, then split.
void BM_Psmash(benchmark::State& state) {
  auto setup = make_rmp(1, false);
  Rmp& rmp = *setup->rmp;
  constexpr uint64_t kRegions = 64;
  const auto prepare = [&] {
    for (uint64_t r = 0; r < kRegions; ++r) {
      for (uint64_t i = 0; i < 512; ++i) (void)rmpupdate(rmp, hpa_of(Pfn{r * 512 + i}), RmpStateView{});
      (void)rmpupdate(rmp, hpa_of(Pfn{r * 512}), RmpStateView{gpa_for(r * 512), 1, 1, 0, 0, kAsid});
    }
  };
  prepare();
  uint64_t next = 0, failures = 0;
  for (auto _ : state) {
    if (next == kRegions) {
      state.PauseTiming();
      prepare();
      next = 0;
      state.ResumeTiming();
    }
    failures += psmash(rmp, hpa_of(Pfn{next++ * 512})).rc != RmpRc::kSuccess;
  }
  if (failures != 0) state.SkipWithError("PSMASH failed");
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_Psmash);

}  // namespace
}  // namespace snpemu::rmp
