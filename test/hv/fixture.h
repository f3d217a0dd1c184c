// test/hv/fixture.h: a VM over a small host Memory, and arch hooks that record every call.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emu/hv/hv.h"
#include "emu/mem/memory.h"

namespace snpemu::hv::test {

inline constexpr uint64_t kHostBytes = uint64_t{64} << 20;  // 64 MiB of host RAM
inline constexpr Pfn kSharedFirst{0x1000};
inline constexpr uint64_t kSharedPages = 0x800;
inline constexpr Pfn kPrivateFirst{0x2000};
inline constexpr uint64_t kPrivatePages = 0x800;

/// Records gmem_prepare / gmem_invalidate calls; can be told to fail prepare.
class RecordingHooks : public GmemArchHooks {
 public:
  struct Prepare {
    Gfn gfn;
    Pfn pfn;
    unsigned order;
  };
  struct Invalidate {
    Pfn start;
    Pfn end;
  };
  KvmResult<void> gmem_prepare(Gfn gfn, Pfn pfn, unsigned order) override {
    prepares.push_back({gfn, pfn, order});
    if (fail_prepare) return std::unexpected(KvmError{KvmErrno::kEio, "test hook refuses"});
    return {};
  }
  void gmem_invalidate(Pfn start, Pfn end) override { invalidates.push_back({start, end}); }
  std::vector<Prepare> prepares;
  std::vector<Invalidate> invalidates;
  bool fail_prepare = false;
};

/// A host Memory plus one Vm of `type` (private pool only if the type has private memory).
struct VmFixture {
  std::unique_ptr<Memory> memory;
  RecordingHooks hooks;
  std::unique_ptr<Vm> vm;

  explicit VmFixture(VmType type) {
    memory = std::move(*Memory::create(kHostBytes));
    VmConfig config{.type = type,
                    .shared_pool_first = kSharedFirst,
                    .shared_pool_pages = kSharedPages,
                    .private_pool_first = kPrivateFirst,
                    .private_pool_pages = vm_features(type).has_private_mem ? kPrivatePages : 0,
                    .hooks = &hooks};
    auto created = Vm::create(*memory, config);
    if (!created) ADD_FAILURE() << "Vm::create: " << created.error().describe();
    vm = std::move(*created);
  }

  /// guest_memfd of `bytes` bytes, bound by slot `id` at `gpa` (offset 0); fails the test on error.
  uint32_t add_gmem_slot(uint16_t id, uint64_t gpa, uint64_t bytes, uint64_t hva) {
    auto fd = vm->create_guest_memfd(KvmCreateGuestMemfd{.size = bytes, .flags = 0});
    EXPECT_TRUE(fd.has_value()) << fd.error().describe();
    auto r = vm->set_user_memory_region(KvmUserspaceMemoryRegion2{
        .slot = id,
        .flags = kKvmMemGuestMemfd,
        .guest_phys_addr = gpa,
        .memory_size = bytes,
        .userspace_addr = hva,
        .guest_memfd_offset = 0,
        .guest_memfd = *fd});
    EXPECT_TRUE(r.has_value()) << r.error().describe();
    return *fd;
  }
  /// A plain (shared-only) slot.
  void add_slot(uint16_t id, uint64_t gpa, uint64_t bytes, uint64_t hva, uint32_t flags = 0) {
    auto r = vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = id,
                                                                  .flags = flags,
                                                                  .guest_phys_addr = gpa,
                                                                  .memory_size = bytes,
                                                                  .userspace_addr = hva});
    EXPECT_TRUE(r.has_value()) << r.error().describe();
  }
  KvmResult<bool> set_private(uint64_t gpa, uint64_t bytes, bool priv) {
    return vm->set_memory_attributes(KvmMemoryAttributes{
        .address = gpa, .size = bytes, .attributes = priv ? kKvmMemoryAttributePrivate : 0});
  }
  void fill_page(Pfn pfn, uint8_t value) {
    ASSERT_TRUE(memory->fill(hpa_of(pfn), kPageSize, value).has_value());
  }
  /// True if every byte of the page is `value`.
  bool page_is(Pfn pfn, uint8_t value) {
    std::vector<uint8_t> buf(kPageSize);
    EXPECT_TRUE(memory->read(hpa_of(pfn), buf).has_value());
    for (uint8_t b : buf) {
      if (b != value) return false;
    }
    return true;
  }
};

}  // namespace snpemu::hv::test
