// test/hv/exit_fixture.h: a VM with one memslot, its NPT, one vCPU and a VMCB prepared by
// init_vmcb + init_long_mode_save_area, plus helpers to build guest page tables in guest memory
// and to stage an exit by hand (exit code, exit_info_1/2, next_rip).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emu/hv/hv.h"
#include "emu/mem/memory.h"

namespace snpemu::hv::test {

inline constexpr uint64_t kExitHostBytes = uint64_t{64} << 20;
inline constexpr Pfn kExitSharedFirst{0x1000};
inline constexpr uint64_t kExitSharedPages = 0x800;
inline constexpr Pfn kExitPrivateFirst{0x2000};
inline constexpr uint64_t kExitPrivatePages = 0x800;
inline constexpr Pfn kHostPoolFirst{0x3000};
inline constexpr uint64_t kHostPoolPages = 0x400;
inline constexpr uint64_t kSlotGpa = 0;
inline constexpr uint64_t kSlotBytes = uint64_t{16} << 20;
inline constexpr uint64_t kSlotHva = 0x1000'0000;
inline constexpr uint64_t kPml4Gpa = 0x10'0000;  // guest page tables from 1 MiB up
inline constexpr uint64_t kGuestRip = 0x40'0000;

struct ExitFixture {
  std::unique_ptr<Memory> memory;
  std::unique_ptr<Vm> vm;
  std::unique_ptr<PagePool> host_pool;
  std::unique_ptr<Npt> npt;
  VmContext vmctx;
  VcpuState vcpu;
  svm::Vmcb vmcb{};
  PermissionMaps maps;
  uint64_t next_table_gpa = kPml4Gpa + kPageSize;

  explicit ExitFixture(VmType type = VmType::kDefault) {
    memory = std::move(*Memory::create(kExitHostBytes));
    const bool priv = vm_features(type).has_private_mem;
    auto created = Vm::create(*memory, VmConfig{.type = type,
                                                .shared_pool_first = kExitSharedFirst,
                                                .shared_pool_pages = kExitSharedPages,
                                                .private_pool_first = kExitPrivateFirst,
                                                .private_pool_pages = priv ? kExitPrivatePages : 0,
                                                .hooks = nullptr});
    if (!created) ADD_FAILURE() << created.error().describe();
    vm = std::move(*created);
    host_pool = std::make_unique<PagePool>(
        std::move(*PagePool::create(*memory, kHostPoolFirst, kHostPoolPages, "hypervisor")));
    auto n = Npt::create(
        *memory, *host_pool,
        NptConfig{.c_bit = static_cast<uint8_t>(vm_features(type).memory_encryption ? 51 : 0)});
    if (!n) ADD_FAILURE() << n.error().describe();
    npt = std::make_unique<Npt>(std::move(*n));
    vm->set_mmu_notifier(npt.get());
    if (priv) {
      auto fd = vm->create_guest_memfd(KvmCreateGuestMemfd{.size = kSlotBytes});
      EXPECT_TRUE(fd.has_value());
      auto r = vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = 0,
                                                                    .flags = kKvmMemGuestMemfd,
                                                                    .guest_phys_addr = kSlotGpa,
                                                                    .memory_size = kSlotBytes,
                                                                    .userspace_addr = kSlotHva,
                                                                    .guest_memfd = *fd});
      EXPECT_TRUE(r.has_value()) << r.error().describe();
    } else {
      auto r = vm->set_user_memory_region(KvmUserspaceMemoryRegion2{.slot = 0,
                                                                    .guest_phys_addr = kSlotGpa,
                                                                    .memory_size = kSlotBytes,
                                                                    .userspace_addr = kSlotHva});
      EXPECT_TRUE(r.has_value()) << r.error().describe();
    }
    vmctx.memory = memory.get();
    vmctx.vm = vm.get();
    vmctx.npt = npt.get();
    auto m = create_permission_maps(*memory, *host_pool);
    EXPECT_TRUE(m.has_value()) << m.error().describe();
    maps = *m;
    init_vmcb(vmcb, VmcbSetup{.maps = maps, .asid = Asid{1}, .nested_cr3 = npt->root()});
    init_long_mode_save_area(vmcb.save,
                             LongModeStart{.rip = kGuestRip, .rsp = 0x80'0000, .cr3 = kPml4Gpa});
  }

  ExitContext ctx(uint64_t host_tsc = 0) { return ExitContext{vmctx, vcpu, vmcb, host_tsc}; }

  /// Stages an exit as the core would write it.
  void stage(svm::ExitCode code, uint64_t info1 = 0, uint64_t info2 = 0, uint64_t next_rip = 0) {
    vmcb.control.exit_code = svm::to_u64(code);
    vmcb.control.exit_info_1 = info1;
    vmcb.control.exit_info_2 = info2;
    vmcb.control.next_rip = next_rip;
  }
  ExitOutcome complete() {
    ExitContext c = ctx();
    return complete_userspace_exit(c);
  }
  ExitOutcome run_exit(uint64_t host_tsc = 0) {
    ExitContext c = ctx(host_tsc);
    return handle_exit(c);
  }

  // ---- guest memory through the slot's shared backing ----
  Pfn backing(uint64_t gpa) {
    auto p = vm->shared_page(kSlotHva + (gpa - kSlotGpa));
    EXPECT_TRUE(p.has_value());
    return *p;
  }
  void write_gpa(uint64_t gpa, const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t a = gpa + i;
      ASSERT_TRUE(
          memory->write8(Hpa{(backing(a).value << kPageShift) | (a & kPageOffsetMask)}, b[i]));
    }
  }
  void write_gpa64(uint64_t gpa, uint64_t v) { write_gpa(gpa, &v, 8); }
  uint64_t read_gpa64(uint64_t gpa) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      const uint64_t a = gpa + i;
      v |= uint64_t{*memory->read8(Hpa{(backing(a).value << kPageShift) | (a & kPageOffsetMask)})}
           << (8 * i);
    }
    return v;
  }
  std::string read_gpa_string(uint64_t gpa, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t a = gpa + i;
      s.push_back(static_cast<char>(
          *memory->read8(Hpa{(backing(a).value << kPageShift) | (a & kPageOffsetMask)})));
    }
    return s;
  }

  /// Maps guest-virtual page `gva` to `gpa` in the guest's 4-level tables rooted at kPml4Gpa
  /// (P | RW | US at every level, or without RW / P at the leaf as asked).
  void map_guest(uint64_t gva, uint64_t gpa, bool writable = true, bool present = true) {
    uint64_t table = kPml4Gpa;
    for (int level = 4; level > 1; --level) {
      const uint64_t slot = table + (((gva >> (12 + 9 * (level - 1))) & 0x1FF) * 8);
      uint64_t e = read_gpa64(slot);
      if ((e & 1) == 0) {
        e = next_table_gpa | 0x7;
        next_table_gpa += kPageSize;
        write_gpa64(slot, e);
      }
      table = e & 0x000F'FFFF'FFFF'F000ull;
    }
    uint64_t leaf = (gpa & ~kPageOffsetMask) | 0x4 | (writable ? 0x2 : 0) | (present ? 1 : 0);
    write_gpa64(table + (((gva >> 12) & 0x1FF) * 8), leaf);
  }
};

}  // namespace snpemu::hv::test
