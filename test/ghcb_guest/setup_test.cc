// GHCB set-up (ghcb/guest/setup.c): the C-bit change in a 4-level identity map with the 2 MiB
// PDE split (APM vol 2 5.3.3), and ghcb_es_init's order of operations against the fake KVM
// (PLATFORM-FACTS 1.3, 1.6, 1.10): negotiate, [SNP: rescind, PSC shared], C-bit cleared, TLB
// flushed, page zeroed, [SNP: register]. Natively a "physical" address is a host address.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

constexpr uint64_t kC = 1ull << 51;
constexpr uint64_t kP = 1, kRw = 2, kPs = 0x80, kPat4k = 0x80, kPatLarge = 0x1000;
constexpr uint64_t kNx = 1ull << 63;

uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }
unsigned idx(uint64_t va, unsigned level) { return pt_index(va, level); }

struct Tree : TwoMegTree {
  Tree(uint64_t va, uint64_t leaf_bits) : TwoMegTree(va, 51, leaf_bits & ~kC) {}
};

TEST(PtSetShared, SplitsTheLeafAndClearsOnlyThatPage) {
  const uint64_t va = 0x0000'0040'0020'3000ull;  // an address whose 2 MiB leaf gets split
  Tree t(va, kC | kNx | kPatLarge);
  ASSERT_EQ(ghcb_pt_set_shared(t.cr3(), va, 51, 1, t.pt->e, 0), GHCB_OK);
  EXPECT_EQ(t.pd->e[idx(va, 2)], addr(t.pt.get()) | kP | kRw | kNx | kC)
      << "expected the PDE to point at the new table, C-bit kept";
  const uint64_t base = va & ~0x1FFFFFull;
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t want =
        (base + i * 4096ull) | kP | kRw | kNx | kPat4k | (i == idx(va, 1) ? 0 : kC);
    ASSERT_EQ(t.pt->e[i], want) << "PTE " << i << ": expected " << hex(want) << ", got "
                                << hex(t.pt->e[i]);
  }
  // Back to private: no second split, only the one PTE changes.
  auto other = std::make_unique<PageTable>();
  ASSERT_EQ(ghcb_pt_set_shared(t.cr3(), va, 51, 0, other->e, 0), GHCB_OK);
  EXPECT_EQ(t.pt->e[idx(va, 1)], (va & ~0xFFFull) | kP | kRw | kNx | kPat4k | kC);
  EXPECT_EQ(other->e[0], 0u) << "an already split PDE needs no table";
}

TEST(PtSetShared, RefusesWhatItCannotHandle) {
  const uint64_t va = 0x0000'0040'0020'3000ull;
  Tree t(va, kC);
  EXPECT_EQ(ghcb_pt_set_shared(t.cr3(), va, 51, 1, nullptr, 0), GHCB_BAD_ARGUMENT)
      << "split needed, no table";
  EXPECT_EQ(ghcb_pt_set_shared(t.cr3(), va + (1ull << 39), 51, 1, t.pt->e, 0), GHCB_BAD_ARGUMENT)
      << "PML4 entry not present";
  EXPECT_EQ(ghcb_pt_set_shared(t.cr3(), va, 52, 1, t.pt->e, 0), GHCB_BAD_ARGUMENT) << "C-bit 52";
  t.pdpt->e[idx(va, 3)] = 0x4000'0000ull | kP | kPs | kC;
  EXPECT_EQ(ghcb_pt_set_shared(t.cr3(), va, 51, 1, t.pt->e, 0), GHCB_BAD_ARGUMENT) << "1 GiB page";
}

/// A vCPU whose CR3 maps its GHCB (a host buffer) through a 2 MiB leaf.
class EsInitTest : public GuestTest {
 protected:
  void prepare(bool snp) {
    kvm_.options().snp = snp;
    kvm_.options().sev_status = snp ? 0x7 : 0x3;
    tree_ = std::make_unique<Tree>(ghcb_gpa(), kC);
    kvm_.options().cr3 = tree_->cr3();
    std::memset(&ghcb_->page, 0xFF, sizeof ghcb_->page);
    if (snp) kvm_.set_private(ghcb_gpa(), 1, true, false);
    ctx_.ghcb = nullptr;
  }
  uint64_t ghcb_pte() const { return tree_->pt->e[idx(ghcb_gpa(), 1)]; }
  bool page_is_zero() const {
    const auto* b = reinterpret_cast<const uint8_t*>(&ghcb_->page);
    for (size_t i = 0; i < sizeof ghcb_->page; ++i)
      if (b[i] != 0) return false;
    return true;
  }
  std::unique_ptr<Tree> tree_;
};

TEST_F(EsInitTest, SnpRescindsConvertsClearsZeroesAndRegisters) {
  prepare(true);
  ASSERT_EQ(ghcb_es_init(&ctx_, &ghcb_->page, tree_->pt->e), GHCB_OK) << errors() << termination();
  EXPECT_EQ(errors(), "");
  EXPECT_EQ(ctx_.ghcb, &ghcb_->page);
  EXPECT_EQ(ctx_.ghcb_gpa, ghcb_gpa());
  EXPECT_EQ(ctx_.version, 2u);
  EXPECT_EQ(kvm_.registered_gpa(), ghcb_gpa());
  EXPECT_FALSE(kvm_.page(ghcb_gpa()).is_private) << "expected gpa " << hex(ghcb_gpa()) << " shared";
  EXPECT_EQ(ghcb_pte() & kC, 0u) << "GHCB PTE " << hex(ghcb_pte()) << " still has the C-bit";
  EXPECT_EQ(tree_->pt->e[idx(ghcb_gpa(), 1) ^ 1] & kC, kC) << "its neighbour stays private";
  EXPECT_EQ(kvm_.cr3_writes(), 1u) << "one TLB flush";
  EXPECT_TRUE(page_is_zero());
  // Order: rescind before the PSC, registration last.
  std::vector<std::string> order;
  for (const auto& e : kvm_.events())
    if (e.rfind("pvalidate", 0) == 0 || e.rfind("psc_msr", 0) == 0 || e.rfind("reg_gpa", 0) == 0)
      order.push_back(e.substr(0, e.find(' ')));
  EXPECT_EQ(order, (std::vector<std::string>{"pvalidate", "psc_msr", "reg_gpa"}));
  // Then the plain-OUT console works through the handler.
  kvm_.set_vc_ctx(&ctx_);
  ghcb_out_puts("up\n");
  EXPECT_EQ(kvm_.console(), "up\n");
}

TEST_F(EsInitTest, SevEsOnlyClearsTheCBit) {
  prepare(false);
  ASSERT_EQ(ghcb_es_init(&ctx_, &ghcb_->page, tree_->pt->e), GHCB_OK) << errors() << termination();
  EXPECT_EQ(count_events("pvalidate"), 0u);
  EXPECT_EQ(count_events("psc_msr"), 0u);
  EXPECT_EQ(count_events("reg_gpa"), 0u) << "KVM treats REG_GPA from a non-SNP guest as termination";
  EXPECT_EQ(count_events("hv_ft_msr"), 0u);
  EXPECT_EQ(ghcb_pte() & kC, 0u);
  EXPECT_TRUE(page_is_zero());
  EXPECT_TRUE(ghcb_ready(&ctx_));
}

TEST_F(EsInitTest, NotAnSevEsGuest) {
  prepare(false);
  kvm_.options().sev_status = 0x1;
  EXPECT_EQ(ghcb_es_init(&ctx_, &ghcb_->page, tree_->pt->e), GHCB_UNSUPPORTED);
  EXPECT_FALSE(ghcb_ready(&ctx_));
}

}  // namespace
}  // namespace snpemu::test
