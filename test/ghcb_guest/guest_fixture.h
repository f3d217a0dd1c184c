// test/ghcb_guest/guest_fixture.h: a vCPU for native ghcb/guest tests: a fake KVM installed as
// the hook target, a page-aligned GHCB buffer and a library context pointing at it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ghcb/guest/ghcb_guest.h"
#include "test/ghcb_guest/fake_kvm.h"

namespace snpemu::test {

struct alignas(4096) AlignedGhcb {
  struct ghcb page{};
};

/// One 4 KiB page-table page.
struct alignas(4096) PageTable {
  uint64_t e[512]{};
};

/// Index of `va` in the table of paging level `level` (4 = PML4 .. 1 = PT). APM vol 2 5.3.3.
inline unsigned pt_index(uint64_t va, unsigned level) {
  return static_cast<unsigned>(va >> (12 + 9 * (level - 1))) & 511;
}

/// A 4-level tree mapping the 2 MiB around `va` with one 2 MiB leaf (P, RW, PS, the C-bit and
/// `leaf_bits`), as the boot identity map does (emu/exec/boot_layout.h). Natively a table's
/// "physical" address is its host address. `pt` is a spare table for a split.
struct TwoMegTree {
  TwoMegTree(uint64_t va, unsigned c_bit, uint64_t leaf_bits = 0) : c(1ull << c_bit) {
    pml4->e[pt_index(va, 4)] = addr(pdpt.get()) | 3 | c;
    pdpt->e[pt_index(va, 3)] = addr(pd.get()) | 3 | c;
    pd->e[pt_index(va, 2)] = (va & ~0x1FFFFFull) | 0x83 | c | leaf_bits;
  }
  static uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }
  uint64_t cr3() const { return addr(pml4.get()) | c; }
  uint64_t c;
  std::unique_ptr<PageTable> pml4 = std::make_unique<PageTable>(),
                             pdpt = std::make_unique<PageTable>(),
                             pd = std::make_unique<PageTable>(), pt = std::make_unique<PageTable>();
};

class GuestTest : public ::testing::Test {
 protected:
  GuestTest() : ghcb_(std::make_unique<AlignedGhcb>()), scope_(kvm_) {
    ghcb_ctx_init(&ctx_, &ghcb_->page, 0, 0);
  }
  uint64_t ghcb_gpa() const { return reinterpret_cast<uint64_t>(&ghcb_->page); }
  /// Negotiates (v2) and registers the GHCB, as an SNP guest does before any GHCB call.
  void set_up_ghcb() {
    ASSERT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_OK);
    ASSERT_EQ(ghcb_msr_register_ghcb(&ctx_, ghcb_gpa()), GHCB_OK);
  }
  /// Messages: the fake's host-side complaints, if any.
  std::string errors() const {
    std::string s;
    for (const auto& e : kvm_.errors()) s += e + "\n";
    return s;
  }
  /// "set/code" of the termination the fake saw, "none" otherwise.
  std::string termination() const {
    if (!kvm_.termination()) return "none";
    return std::to_string(kvm_.termination()->reason_set) + "/" +
           std::to_string(kvm_.termination()->reason_code);
  }
  size_t count_events(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& e : kvm_.events()) n += e.rfind(prefix, 0) == 0;
    return n;
  }

  FakeKvm kvm_;
  std::unique_ptr<AlignedGhcb> ghcb_;
  FakeKvm::Scope scope_;
  struct ghcb_ctx ctx_ {};
};

}  // namespace snpemu::test
