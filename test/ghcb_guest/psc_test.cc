// Page State Change from the guest library, both forms, against the fake KVM whose GHCB side is
// //ghcb's parse_psc_desc + psc_scan_* (KVM's algorithm). Checks Linux's order (rescind before
// shared, validate after private), the 2 MiB entries and the size-mismatch fallback, batching,
// early returns, and the terminations on every bad answer. PLATFORM-FACTS 1.9, 1.10, 3.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

void expect_pages(const FakeKvm& kvm, uint64_t gpa, uint64_t npages, bool is_private,
                  bool validated) {
  for (uint64_t i = 0; i < npages; ++i) {
    const uint64_t a = gpa + i * 4096;
    const FakePage p = kvm.page(a);
    ASSERT_EQ(p.is_private, is_private) << "expected " << (is_private ? "private" : "shared")
                                        << " at gpa " << hex(a);
    ASSERT_EQ(p.validated, validated) << "expected validated=" << validated << " at gpa "
                                      << hex(a) << ", got " << p.validated;
  }
}


// ------------------------------------------------------------------------------- MSR form

TEST_F(GuestTest, MsrPscToPrivateValidatesAfterEachRequestAndRestoresTheMsr) {
  set_up_ghcb();
  const uint64_t before = kvm_.ghcb_msr();
  ASSERT_EQ(ghcb_msr_psc(&ctx_, 0x10000, 2, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  const std::vector<std::string> tail(kvm_.events().end() - 6, kvm_.events().end());
  EXPECT_EQ(tail, (std::vector<std::string>{
                      "psc_msr gpa=0x10000 op=1", "map_gpa_range gpa=0x10000 npages=1 private",
                      "pvalidate gpa=0x10000 4K validate", "psc_msr gpa=0x11000 op=1",
                      "map_gpa_range gpa=0x11000 npages=1 private",
                      "pvalidate gpa=0x11000 4K validate"}));
  expect_pages(kvm_, 0x10000, 2, true, true);
  EXPECT_EQ(kvm_.ghcb_msr(), before) << "GHCB MSR saved and restored around the request";
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, MsrPscToSharedRescindsFirst) {
  kvm_.set_private(0x20000, 2, true, false);
  ASSERT_EQ(ghcb_msr_psc(&ctx_, 0x20000, 2, GHCB_PSC_SHARED), GHCB_OK) << errors();
  ASSERT_EQ(kvm_.events().size(), 6u);
  EXPECT_EQ(kvm_.events()[0], "pvalidate gpa=0x20000 4K rescind");
  EXPECT_EQ(kvm_.events()[1], "psc_msr gpa=0x20000 op=2");
  EXPECT_EQ(kvm_.events()[3], "pvalidate gpa=0x21000 4K rescind");
  expect_pages(kvm_, 0x20000, 2, false, false);
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, MsrPscRefusedByVmmTerminatesSetOneCodeOne) {
  kvm_.options().psc_fail_gpa = 0x31000;
  EXPECT_EQ(ghcb_msr_psc(&ctx_, 0x30000, 3, GHCB_PSC_PRIVATE), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/1");
  expect_pages(kvm_, 0x30000, 1, true, true);
  EXPECT_EQ(count_events("psc_msr gpa=0x32000"), 0u) << "no request after the failure";
}

TEST_F(GuestTest, MsrPscPvalidateNoUpdateTerminatesSetOneCodeTwo) {
  kvm_.set_private(0x40000, 1, /*validated=*/false, false);  // rescind finds nothing to do: CF=1
  EXPECT_EQ(ghcb_msr_psc(&ctx_, 0x40000, 1, GHCB_PSC_SHARED), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/2");
  EXPECT_EQ(count_events("psc_msr"), 0u);
}

TEST_F(GuestTest, MsrPscRejectsOtherOperations) {
  EXPECT_EQ(ghcb_msr_psc(&ctx_, 0x40000, 1, 3), GHCB_BAD_ARGUMENT);
  EXPECT_TRUE(kvm_.events().empty());
}

// ------------------------------------------------------------------------------ GHCB form

TEST_F(GuestTest, GhcbPscFourKPagesPrivate) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x50000, 3, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.psc_calls(), 1u);
  ASSERT_EQ(kvm_.psc_batches().size(), 1u) << "3 contiguous 4K entries coalesce into one exit";
  const ghcb::PscBatch& b = kvm_.psc_batches()[0];
  EXPECT_EQ(b.gpa, 0x50000u);
  EXPECT_EQ(b.npages, 3u);
  EXPECT_EQ(b.attributes, ghcb::kMapGpaRangeEncrypted);
  EXPECT_EQ(b.entry_count, 3u);
  expect_pages(kvm_, 0x50000, 3, true, true);
  // Validation happens after the hypervisor call, from the guest's own copy.
  EXPECT_EQ(count_events("psc_call cur=0 end=2"), 1u);
  EXPECT_EQ(kvm_.events().back(), "pvalidate gpa=0x52000 4K validate");
  // The shared buffer holds KVM's write-back: cur_entry past end, each entry's cur_page = 1.
  const auto* d = reinterpret_cast<const ghcb_psc_desc*>(ctx_.ghcb->shared_buffer);
  EXPECT_EQ(d->hdr.cur_entry, 3u);
  EXPECT_EQ(ghcb_psc_entry_cur_page(d->entries[2]), 1u);
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, GhcbPscUsesTwoMegEntryForAlignedRange) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x200000, 512, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  ASSERT_EQ(kvm_.psc_batches().size(), 1u);
  const ghcb::PscBatch& b = kvm_.psc_batches()[0];
  EXPECT_TRUE(b.page_size_2m);
  EXPECT_EQ(b.npages, 512u);
  EXPECT_EQ(b.attributes, ghcb::kMapGpaRangeEncrypted | ghcb::kMapGpaRangePageSz2M);
  EXPECT_EQ(count_events("pvalidate gpa=0x200000 2M validate"), 1u);
  EXPECT_EQ(count_events("pvalidate"), 1u);
  expect_pages(kvm_, 0x200000, 512, true, true);
  EXPECT_TRUE(kvm_.page(0x3FF000).rmp_2m);
}

TEST_F(GuestTest, GhcbPscTwoMegSizeMismatchFallsBackTo512FourK) {
  kvm_.options().rmp_4k_only = true;
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x400000, 512, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  EXPECT_EQ(count_events("pvalidate gpa=0x400000 2M validate"), 1u);
  EXPECT_EQ(count_events("pvalidate"), 513u) << "one 2M try, then 512 x 4K";
  EXPECT_EQ(kvm_.events().back(), "pvalidate gpa=0x5ff000 4K validate");
  expect_pages(kvm_, 0x400000, 512, true, true);
  EXPECT_EQ(termination(), "none");
}

TEST_F(GuestTest, GhcbPscToSharedRescindsTwoMegBeforeTheCall) {
  kvm_.set_private(0x600000, 512, true, /*rmp_2m=*/true);
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x600000, 512, GHCB_PSC_SHARED), GHCB_OK) << errors();
  const auto& ev = kvm_.events();
  const auto rescind = std::find(ev.begin(), ev.end(), "pvalidate gpa=0x600000 2M rescind");
  const auto call = std::find(ev.begin(), ev.end(), "psc_call cur=0 end=0");
  ASSERT_NE(rescind, ev.end());
  ASSERT_NE(call, ev.end());
  EXPECT_LT(rescind, call) << "rescind must precede the PSC";
  expect_pages(kvm_, 0x600000, 512, false, false);
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
}

TEST_F(GuestTest, GhcbPscBatchesOf64Entries) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x1000, 200, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.psc_calls(), 4u);
  EXPECT_EQ(count_events("psc_call cur=0 end=63"), 3u);
  EXPECT_EQ(count_events("psc_call cur=0 end=7"), 1u);
  expect_pages(kvm_, 0x1000, 200, true, true);
}

TEST_F(GuestTest, GhcbPscMixedRangeResumesAfterEarlyReturns) {
  kvm_.options().psc_batches_per_call = 1;
  set_up_ghcb();
  // 0x1FF000: one 4K page, then an aligned 2M, then three 4K pages: 5 entries, 3 exits.
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x1FF000, 1 + 512 + 3, GHCB_PSC_PRIVATE), GHCB_OK)
      << errors();
  EXPECT_EQ(kvm_.psc_calls(), 3u) << "the hypervisor returned after each batch";
  EXPECT_EQ(count_events("psc_call cur=0 end=4"), 1u);
  EXPECT_EQ(count_events("psc_call cur=1 end=4"), 1u);
  EXPECT_EQ(count_events("psc_call cur=2 end=4"), 1u);
  ASSERT_EQ(kvm_.psc_batches().size(), 3u);
  EXPECT_EQ(kvm_.psc_batches()[1].gpa, 0x200000u);
  EXPECT_TRUE(kvm_.psc_batches()[1].page_size_2m);
  EXPECT_EQ(kvm_.psc_batches()[2].npages, 3u);
  expect_pages(kvm_, 0x1FF000, 516, true, true);
  EXPECT_EQ(termination(), "none");
}

TEST_F(GuestTest, GhcbPscHypervisorErrorTerminatesSetOneCodeOne) {
  kvm_.options().psc_fail_gpa = 0x71000;
  set_up_ghcb();
  EXPECT_EQ(ghcb_set_pages_state(&ctx_, 0x70000, 4, GHCB_PSC_PRIVATE), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/1");
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_2, static_cast<uint64_t>(ghcb::PscStatus::kGenericError));
  EXPECT_EQ(count_events("pvalidate"), 0u) << "nothing validated after a failed PSC";
}

class PscTamper : public GuestTest,
                  public ::testing::WithParamInterface<FakeKvmOptions::Tamper> {};

TEST_P(PscTamper, MaliciousWriteBackTerminatesSetOneCodeOne) {
  kvm_.options().psc_tamper = GetParam();
  kvm_.options().psc_batches_per_call = 1;  // progress first, so a rewind is visible
  set_up_ghcb();
  EXPECT_EQ(ghcb_set_pages_state(&ctx_, 0x1FF000, 516, GHCB_PSC_PRIVATE), GHCB_TERMINATED);
  EXPECT_EQ(termination(), "1/1");
  EXPECT_EQ(count_events("pvalidate"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Answers, PscTamper,
                         ::testing::Values(FakeKvmOptions::Tamper::kGrowEnd,
                                           FakeKvmOptions::Tamper::kRewindCur,
                                           FakeKvmOptions::Tamper::kSetReserved));

TEST_F(GuestTest, GhcbPscValidatesFromItsOwnCopyNotTheSharedBuffer) {
  kvm_.options().psc_tamper = FakeKvmOptions::Tamper::kRewriteGfn;
  set_up_ghcb();
  ASSERT_EQ(ghcb_set_pages_state(&ctx_, 0x50000, 3, GHCB_PSC_PRIVATE), GHCB_OK) << errors();
  const auto* d = reinterpret_cast<const ghcb_psc_desc*>(ctx_.ghcb->shared_buffer);
  EXPECT_EQ(ghcb_psc_entry_gfn(d->entries[0]), 0x1050u) << "the hypervisor did rewrite it";
  EXPECT_EQ(count_events("pvalidate gpa=0x50000 4K validate"), 1u);
  EXPECT_EQ(count_events("pvalidate gpa=0x1050000"), 0u) << "never validate a GFN the host chose";
  expect_pages(kvm_, 0x50000, 3, true, true);
}

TEST_F(GuestTest, GhcbPscSubmitResumesFromCurEntryAndHostDecodesTheSameEntries) {
  set_up_ghcb();
  ghcb_psc_desc desc{};
  desc.hdr.cur_entry = 1;
  desc.hdr.end_entry = 2;
  desc.entries[0] = ghcb_psc_entry(0x80, GHCB_PSC_PRIVATE, 0);
  desc.entries[1] = ghcb_psc_entry(0x90, GHCB_PSC_SHARED, 0);
  desc.entries[2] = ghcb_psc_entry(0x200, GHCB_PSC_PRIVATE, 1);
  // The C encoder and the C++ decoder agree on every field.
  const ghcb::PscEntry e = ghcb::PscEntry::decode(desc.entries[2]);
  EXPECT_EQ(e.gfn, 0x200u);
  EXPECT_EQ(e.operation, 1u);
  EXPECT_TRUE(e.pagesize);
  EXPECT_EQ(e.cur_page, 0u);
  ASSERT_EQ(ghcb_psc_submit(&ctx_, &desc), GHCB_OK) << errors();
  ASSERT_EQ(kvm_.psc_batches().size(), 2u) << "entry 0 is before cur_entry and skipped";
  EXPECT_EQ(kvm_.psc_batches()[0].gpa, 0x90000u);
  EXPECT_FALSE(kvm_.psc_batches()[0].to_private);
  EXPECT_EQ(kvm_.psc_batches()[1].gpa, 0x200000u);
  EXPECT_EQ(kvm_.page(0x80000).is_private, false) << "expected gpa 0x80000 untouched";
}

TEST_F(GuestTest, GhcbPscSubmitFillsTheWholeSharedBuffer) {
  set_up_ghcb();
  ghcb_psc_desc desc{};
  desc.hdr.end_entry = GHCB_PSC_MAX_ENTRIES - 1;
  for (unsigned i = 0; i < GHCB_PSC_MAX_ENTRIES; ++i) {
    desc.entries[i] = ghcb_psc_entry(0x1000 + 2 * i, i % 2 ? GHCB_PSC_SHARED : GHCB_PSC_PRIVATE, 0);
  }
  ASSERT_EQ(ghcb_psc_submit(&ctx_, &desc), GHCB_OK) << errors();
  EXPECT_EQ(count_events("psc_call cur=0 end=252"), 1u);
  ASSERT_EQ(kvm_.psc_batches().size(), 253u) << "non-contiguous entries: one exit each";
  EXPECT_EQ(kvm_.psc_batches()[252].gpa, (0x1000u + 2 * 252) << 12);
  EXPECT_TRUE(kvm_.page((0x1000u + 2 * 252) << 12).is_private);
  EXPECT_FALSE(kvm_.page((0x1000u + 2 * 251) << 12).is_private);
  desc.hdr.end_entry = GHCB_PSC_MAX_ENTRIES;  // 254 entries cannot fit
  EXPECT_EQ(ghcb_psc_submit(&ctx_, &desc), GHCB_BAD_ARGUMENT);
  EXPECT_EQ(kvm_.psc_calls(), 1u);
}

TEST_F(GuestTest, SevEsGuestCannotUseGhcbPsc) {
  kvm_.options().snp = false;
  ASSERT_EQ(ghcb_msr_sev_setup(&ctx_, 0), GHCB_OK);
  ctx_.ghcb_gpa = ghcb_gpa();  // SEV-ES: no registration
  ASSERT_EQ(ghcb_console_puts(&ctx_, "es"), GHCB_OK) << errors();
  EXPECT_EQ(kvm_.console(), "es");
  // KVM's validation answers PSC from a non-SNP guest with MISSING_INPUT (2, 4).
  EXPECT_EQ(ghcb_set_pages_state(&ctx_, 0x10000, 1, GHCB_PSC_PRIVATE), GHCB_TERMINATED);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_1, 2u);
  EXPECT_EQ(ctx_.ghcb->save.sw_exit_info_2, 4u);
  EXPECT_EQ(termination(), "1/1");
}

TEST_F(GuestTest, AcceptMemoryMakesRangePrivateAndValidated) {
  set_up_ghcb();
  ASSERT_EQ(ghcb_accept_memory(&ctx_, 0x800000, 0x802000), GHCB_OK) << errors();
  expect_pages(kvm_, 0x800000, 2, true, true);
  EXPECT_EQ(ghcb_accept_memory(&ctx_, 0x800800, 0x802000), GHCB_BAD_ARGUMENT);
}

}  // namespace
}  // namespace snpemu::test
