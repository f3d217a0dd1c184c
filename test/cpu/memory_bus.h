// test/cpu/memory_bus.h: a CpuBus over emu/mem Memory with FlatBus's test helpers, for tests
// whose other models (the RMP, the AMD-SP) need the same Memory as the core.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "cpu/cpu.h"
#include "emu/mem/memory.h"

namespace snpemu::cpu::testing {

class MemoryBus : public CpuBus {
 public:
  explicit MemoryBus(uint64_t size) : mem_(std::move(*Memory::create(size))) {}
  Memory& memory() { return *mem_; }

  bool read(uint64_t pa, std::span<uint8_t> out) override { return mem_->read(Hpa{pa}, out).has_value(); }
  bool write(uint64_t pa, std::span<const uint8_t> in) override { return mem_->write(Hpa{pa}, in).has_value(); }
  IoResult io_in(uint16_t, uint8_t, uint32_t& value) override {
    value = 0xFFFFFFFF;
    return IoResult::kDone;
  }
  IoResult io_out(uint16_t port, uint8_t size, uint32_t value) override {
    outs.push_back({port, size, value});
    return IoResult::kDone;
  }

  void load(uint64_t pa, std::span<const uint8_t> bytes) { (void)mem_->write(Hpa{pa}, bytes); }
  template <class T>
  T peek(uint64_t pa) const {
    T v{};
    (void)mem_->read(Hpa{pa}, std::span(reinterpret_cast<uint8_t*>(&v), sizeof v));
    return v;
  }
  template <class T>
  void poke(uint64_t pa, T v) {
    (void)mem_->write(Hpa{pa}, std::span(reinterpret_cast<const uint8_t*>(&v), sizeof v));
  }

  struct Out {
    uint16_t port;
    uint8_t size;
    uint32_t value;
  };
  std::vector<Out> outs;

 private:
  std::unique_ptr<Memory> mem_;
};

}  // namespace snpemu::cpu::testing
