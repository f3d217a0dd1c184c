// bench/mem_bench.cc: host memory throughput next to plain-array baselines in the same run.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <vector>

#include "bench/ratio.h"
#include "emu/mem/memory.h"

namespace snpemu {
namespace {

constexpr uint64_t kWorkingSet = uint64_t{64} << 20;  // 64 MiB, larger than the LLC
constexpr uint64_t kSeed = 0x5eed'0001;               // explicit seed for address streams

std::unique_ptr<Memory> make_touched_memory() {
  auto mem = std::move(*Memory::create(uint64_t{4} << 30));
  (void)mem->fill(Hpa{0}, kWorkingSet, 0x11);
  return mem;
}

// Deterministic xorshift stream of 8-byte-aligned offsets inside the working set.
std::vector<uint64_t> random_offsets(size_t n) {
  std::vector<uint64_t> out(n);
  uint64_t x = kSeed;
  for (auto& o : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    o = (x % kWorkingSet) & ~uint64_t{7};
  }
  return out;
}

// --- Span copies: 64 KiB blocks, sequential through the working set -------------------------

void BM_Array_Memcpy64K(benchmark::State& state) {
  std::vector<uint8_t> src(kWorkingSet, 0x11);
  std::vector<uint8_t> dst(64 << 10);
  uint64_t off = 0;
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data() + off, dst.size());
    benchmark::DoNotOptimize(dst.data());
    off = (off + dst.size()) % kWorkingSet;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(dst.size()));
}
BENCHMARK(BM_Array_Memcpy64K);

void BM_Memory_Read64K(benchmark::State& state) {
  auto mem = make_touched_memory();
  std::vector<uint8_t> dst(64 << 10);
  uint64_t off = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mem->read(Hpa{off}, dst));
    benchmark::DoNotOptimize(dst.data());
    off = (off + dst.size()) % kWorkingSet;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(dst.size()));
}
BENCHMARK(BM_Memory_Read64K);
SNPEMU_BENCH_RATIO("BM_Memory_Read64K", "BM_Array_Memcpy64K");

void BM_Memory_Write64K(benchmark::State& state) {
  auto mem = make_touched_memory();
  std::vector<uint8_t> src(64 << 10, 0x22);
  uint64_t off = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mem->write(Hpa{off}, src));
    off = (off + src.size()) % kWorkingSet;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(src.size()));
}
BENCHMARK(BM_Memory_Write64K);
SNPEMU_BENCH_RATIO("BM_Memory_Write64K", "BM_Array_Memcpy64K");

// --- Random 8-byte scalar accesses --------------------------------------------------------

void BM_Array_Read64Random(benchmark::State& state) {
  std::vector<uint8_t> arr(kWorkingSet, 0x11);
  const auto offs = random_offsets(1 << 16);
  size_t i = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    uint64_t v;
    std::memcpy(&v, arr.data() + offs[i++ & 0xFFFF], 8);
    sum += v;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Array_Read64Random);

void BM_Memory_Read64Random(benchmark::State& state) {
  auto mem = make_touched_memory();
  const auto offs = random_offsets(1 << 16);
  size_t i = 0;
  uint64_t sum = 0;
  for (auto _ : state) sum += *mem->read64(Hpa{offs[i++ & 0xFFFF]});
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Memory_Read64Random);
SNPEMU_BENCH_RATIO("BM_Memory_Read64Random", "BM_Array_Read64Random");

void BM_Memory_PagePointerRead64Random(benchmark::State& state) {
  auto mem = make_touched_memory();
  const auto offs = random_offsets(1 << 16);
  size_t i = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    const uint64_t off = offs[i++ & 0xFFFF];
    uint64_t v;
    std::memcpy(&v, mem->page_pointer(Pfn{off >> kPageShift}) + (off & kPageOffsetMask), 8);
    sum += v;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_Memory_PagePointerRead64Random);
SNPEMU_BENCH_RATIO("BM_Memory_PagePointerRead64Random", "BM_Array_Read64Random");

void BM_Array_Write64Random(benchmark::State& state) {
  std::vector<uint8_t> arr(kWorkingSet, 0x11);
  const auto offs = random_offsets(1 << 16);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t v = i;
    std::memcpy(arr.data() + offs[i++ & 0xFFFF], &v, 8);
  }
  benchmark::DoNotOptimize(arr.data());
}
BENCHMARK(BM_Array_Write64Random);

void BM_Memory_Write64Random(benchmark::State& state) {
  auto mem = make_touched_memory();
  const auto offs = random_offsets(1 << 16);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t v = i;
    benchmark::DoNotOptimize(mem->write64(Hpa{offs[i++ & 0xFFFF]}, v));
  }
}
BENCHMARK(BM_Memory_Write64Random);
SNPEMU_BENCH_RATIO("BM_Memory_Write64Random", "BM_Array_Write64Random");

}  // namespace
}  // namespace snpemu
