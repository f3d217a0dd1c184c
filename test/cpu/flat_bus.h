// test/cpu/flat_bus.h: a CpuBus over flat test memory with no machine around it (STYLE rule 7).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "cpu/cpu.h"

namespace snpemu::cpu::testing {

class FlatBus : public CpuBus {
 public:
  explicit FlatBus(size_t size) : mem_(size, 0) {}

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
    if (!page_pointers || pfn >= mem_.size() / 4096) return nullptr;
    return mem_.data() + pfn * 4096;
  }
  IoResult io_in(uint16_t port, uint8_t size, uint32_t& value) override {
    ins.emplace_back(port, size);
    value = in_value;
    return port == exit_port ? IoResult::kExit : IoResult::kDone;
  }
  IoResult io_out(uint16_t port, uint8_t size, uint32_t value) override {
    outs.push_back({port, size, value});
    return port == exit_port ? IoResult::kExit : IoResult::kDone;
  }

  void load(uint64_t pa, std::span<const uint8_t> bytes) { std::memcpy(mem_.data() + pa, bytes.data(), bytes.size()); }
  template <class T>
  T peek(uint64_t pa) const {
    T v;
    std::memcpy(&v, mem_.data() + pa, sizeof v);
    return v;
  }
  template <class T>
  void poke(uint64_t pa, T v) {
    std::memcpy(mem_.data() + pa, &v, sizeof v);
  }
  std::vector<uint8_t>& bytes() { return mem_; }

  struct Out {
    uint16_t port;
    uint8_t size;
    uint32_t value;
  };
  std::vector<Out> outs;
  std::vector<std::pair<uint16_t, uint8_t>> ins;
  uint32_t in_value = 0;
  uint16_t exit_port = 0xF4;
  bool page_pointers = true;  // false: readable_page() offers none (the core's read() fallback)

 private:
  std::vector<uint8_t> mem_;
};

}  // namespace snpemu::cpu::testing
