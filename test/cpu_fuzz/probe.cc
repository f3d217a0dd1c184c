// test/cpu_fuzz/probe.cc
#include "test/cpu_fuzz/probe.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace snpemu::cpu_fuzz {
namespace {

constexpr uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr uint64_t kDataFirst = 0x5000;
constexpr uint64_t kMemSize = kFence + 0x1000;
constexpr uint64_t kStackTop = 0x9000;
// Page-table entry bits. APM vol 2, 5.3.3. #PF error code I/D bit: APM vol 2, 8.4.2.
constexpr uint64_t kPteP = 1, kPteRw = 2;
constexpr uint32_t kPfId = 0x10;

class FlatBus final : public cpu::CpuBus {
 public:
  explicit FlatBus(const std::vector<uint8_t>& image) : mem_(image) {}
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
  cpu::IoResult io_in(uint16_t, uint8_t size, uint32_t& value) override {
    value = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
    return cpu::IoResult::kDone;
  }
  cpu::IoResult io_out(uint16_t, uint8_t, uint32_t) override { return cpu::IoResult::kDone; }
  std::vector<uint8_t>& bytes() { return mem_; }

 private:
  std::vector<uint8_t> mem_;
};

void put64(std::vector<uint8_t>& m, uint64_t a, uint64_t v) { std::memcpy(m.data() + a, &v, 8); }

std::vector<uint8_t> make_image() {
  std::vector<uint8_t> m(kMemSize, 0);
  put64(m, kPml4, kPdpt | kPteP | kPteRw);
  put64(m, kPdpt, kPd | kPteP | kPteRw);
  put64(m, kPd, kPt | kPteP | kPteRw);
  for (uint64_t page = kDataFirst; page <= kCodePage; page += 0x1000) {
    put64(m, kPt + 8 * (page >> 12), page | kPteP | kPteRw);
  }
  return m;
}

}  // namespace

const std::vector<uint8_t>& probe_image() {
  static const std::vector<uint8_t> image = make_image();  // immutable
  return image;
}

namespace {

cpu::CoreConfig probe_config() {
  cpu::CoreConfig config;
  config.stop_on_fault = true;
  return config;
}

cpu::ArchState initial_state(uint64_t at) {
  cpu::ArchState s = cpu::long_mode_state(at, kStackTop);
  s.cr0 |= cpu::ctl::kCr0Pg | cpu::ctl::kCr0Wp;
  s.cr3 = kPml4;
  for (unsigned r = 0; r < 16; ++r) {
    if (r != cpu::kRsp) s.gpr[r] = 0x6000 + 0x100 * r;  // into the data pages
  }
  return s;
}

void place(FlatBus& bus, std::span<const uint8_t> code, uint64_t at) {
  std::memcpy(bus.bytes().data() + at, code.data(), std::min<size_t>(code.size(), kFence - at));
}

ProbeResult collect(cpu::StopReason reason, const cpu::Core& core, FlatBus& bus, bool memory) {
  ProbeResult out;
  out.reason = reason;
  out.fault = core.stop_info().fault;
  out.stop_address = core.stop_info().address;
  out.state = core.state();
  out.cycles = core.cycles();
  out.instructions = core.instructions();
  if (memory) out.memory = bus.bytes();
  return out;
}

}  // namespace

ProbeResult probe_run(std::span<const uint8_t> code, uint64_t at, int steps) {
  FlatBus bus(probe_image());
  place(bus, code, at);
  cpu::Core core(bus, probe_config());
  core.state() = initial_state(at);
  cpu::StopReason reason = cpu::StopReason::kBudget;
  for (int i = 0; i < steps; ++i) {
    reason = core.step();
    if (reason != cpu::StopReason::kBudget) break;
  }
  return collect(reason, core, bus, true);
}

bool needs_more_bytes(const ProbeResult& r) {
  return r.reason == cpu::StopReason::kFault && r.fault.vector == cpu::Vector::kPf &&
         r.fault.cr2 == kFence && (r.fault.error_code & kPfId) != 0;
}

size_t probe_length(std::span<const uint8_t> bytes, ProbeResult* at_length) {
  std::array<uint8_t, kMaxInsn> first{};
  std::memcpy(first.data(), bytes.data(), std::min(bytes.size(), kMaxInsn));
  // One core for all placements (a fresh core per placement would spend most of the time
  // setting up its caches). Until the instruction fits, nothing executes, so nothing but the
  // placed bytes changes between placements; the cycle counter does, and is not reported.
  FlatBus bus(probe_image());
  cpu::Core core(bus, probe_config());
  for (size_t k = 1; k <= kMaxInsn; ++k) {
    std::memset(bus.bytes().data() + kFence - kMaxInsn, 0, kMaxInsn);
    place(bus, std::span(first.data(), k), kFence - k);
    core.state() = initial_state(kFence - k);
    const cpu::StopReason reason = core.step();
    ProbeResult r = collect(reason, core, bus, false);
    if (!needs_more_bytes(r)) {
      *at_length = std::move(r);
      return k;
    }
  }
  return 0;
}

}  // namespace snpemu::cpu_fuzz
