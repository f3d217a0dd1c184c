// bench/ratio.h: declare which benchmark is the baseline of which, so that every suite prints
// its figures as ratios against a baseline measured in the same process.
//
// Usage, at namespace scope in a bench file:
//   SNPEMU_BENCH_RATIO("BM_Memory_Read64Random", "BM_Array_Read64Random");
// After the normal Google Benchmark table, ratio_main prints one line per pair:
//   BM_Memory_Read64Random / BM_Array_Read64Random = 1.42x (time per iteration)
// Names match the benchmark's full run name (including /args), or its prefix before '/'
// when both sides carry the same arguments.
#pragma once

namespace snpemu::bench {

/// Registers a (measured, baseline) pair; returns true so it can initialise a static.
bool register_ratio(const char* measured, const char* baseline);

}  // namespace snpemu::bench

#define SNPEMU_BENCH_CONCAT2(a, b) a##b
#define SNPEMU_BENCH_CONCAT(a, b) SNPEMU_BENCH_CONCAT2(a, b)
#define SNPEMU_BENCH_RATIO(measured, baseline)                                      \
  [[maybe_unused]] static const bool SNPEMU_BENCH_CONCAT(snpemu_ratio_, __LINE__) = \
      ::snpemu::bench::register_ratio(measured, baseline)
