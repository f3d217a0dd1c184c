// bench/cpu_bench.cc: a fixed integer workload (a byte-checksum loop) run on the emulated core
// over flat memory, next to the same instruction sequence run natively (inline assembly) in the
// same process. Reports emulated instructions per second and modelled cycles per run; ratio_main
// prints emulated / native time. The flat bus offers page pointers (CpuBus::readable_page), as
// the machine's RAM does, so the core's fetch and load fast paths are in play; the predecode
// cache is on (CoreConfig default) and the timing model charges every instruction. Owner: cpu/.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "bench/ratio.h"
#include "cpu/cpu.h"

namespace {

using snpemu::cpu::CpuBus;
using snpemu::cpu::IoResult;

constexpr uint64_t kCode = 0x1000;
constexpr uint64_t kBuf = 0x10000;
constexpr uint64_t kLen = 4096;

class Flat final : public CpuBus {
 public:
  Flat() : mem_(0x20000, 0) {}
  bool read(uint64_t pa, std::span<uint8_t> out) override {
    if (pa > mem_.size() || out.size() > mem_.size() - pa) return false;
    std::memcpy(out.data(), mem_.data() + pa, out.size());
    return true;
  }
  bool write(uint64_t pa, std::span<const uint8_t> in) override {
    if (pa > mem_.size() || in.size() > mem_.size() - pa) return false;
    std::memcpy(mem_.data() + pa, in.data(), in.size());
    return true;
  }
  const uint8_t* readable_page(uint64_t pfn) override {
    return pfn < mem_.size() / 4096 ? mem_.data() + pfn * 4096 : nullptr;
  }
  IoResult io_in(uint16_t, uint8_t, uint32_t& v) override {
    v = 0;
    return IoResult::kDone;
  }
  IoResult io_out(uint16_t, uint8_t, uint32_t) override { return IoResult::kDone; }
  std::vector<uint8_t> mem_;
};

// L: movzx edx, byte [rsi]; add eax, edx; imul eax, eax, 31; xor eax, edx; inc rsi; dec rcx;
//    jnz L; hlt
const uint8_t kLoop[] = {0x0F, 0xB6, 0x16, 0x01, 0xD0, 0x6B, 0xC0, 0x1F, 0x31, 0xD0,
                         0x48, 0xFF, 0xC6, 0x48, 0xFF, 0xC9, 0x75, 0xEE, 0xF4};

void BM_Cpu_ChecksumEmulated(benchmark::State& state) {
  Flat bus;
  std::memcpy(bus.mem_.data() + kCode, kLoop, sizeof kLoop);
  for (uint64_t i = 0; i < kLen; ++i) bus.mem_[kBuf + i] = static_cast<uint8_t>(i * 7 + 3);
  snpemu::cpu::Core core(bus, snpemu::cpu::CoreConfig{});
  uint64_t insns = 0, cycles = 0, checksum = 0;
  for (auto _ : state) {
    core.state() = snpemu::cpu::long_mode_state(kCode, 0x8000);
    core.state().gpr[snpemu::cpu::kRsi] = kBuf;
    core.state().gpr[snpemu::cpu::kRcx] = kLen;
    core.state().gpr[snpemu::cpu::kRax] = 0;
    const uint64_t i0 = core.instructions(), c0 = core.cycles();
    if (core.run(~uint64_t{0} >> 1) != snpemu::cpu::StopReason::kHalt) state.SkipWithError("no HLT");
    insns += core.instructions() - i0;
    cycles = core.cycles() - c0;
    checksum = core.state().gpr[snpemu::cpu::kRax];
  }
  benchmark::DoNotOptimize(checksum);
  state.counters["insns/s"] = benchmark::Counter(static_cast<double>(insns), benchmark::Counter::kIsRate);
  state.counters["model_cycles/run"] = static_cast<double>(cycles);
}
BENCHMARK(BM_Cpu_ChecksumEmulated);

void BM_Cpu_ChecksumNative(benchmark::State& state) {
  std::vector<uint8_t> buf(kLen);
  for (uint64_t i = 0; i < kLen; ++i) buf[i] = static_cast<uint8_t>(i * 7 + 3);
  uint64_t checksum = 0;
  for (auto _ : state) {
    uint64_t rsi = reinterpret_cast<uint64_t>(buf.data()), rcx = kLen, rax = 0, rdx = 0;
    asm volatile(
        "1:\n\t"
        "movzbl (%[rsi]), %%edx\n\t"
        "addl %%edx, %%eax\n\t"
        "imull $31, %%eax, %%eax\n\t"
        "xorl %%edx, %%eax\n\t"
        "incq %[rsi]\n\t"
        "decq %[rcx]\n\t"
        "jnz 1b\n\t"
        : [rsi] "+r"(rsi), [rcx] "+r"(rcx), "+a"(rax), "+d"(rdx)
        :
        : "cc", "memory");
    checksum = rax;
  }
  benchmark::DoNotOptimize(checksum);
  state.counters["insns/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * (7 * kLen),
                                                 benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Cpu_ChecksumNative);
SNPEMU_BENCH_RATIO("BM_Cpu_ChecksumEmulated", "BM_Cpu_ChecksumNative");

}  // namespace
