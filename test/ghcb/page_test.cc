// Tests for the GHCB page layout, valid bitmap, snapshot and response writers (ghcb/page.cc).
// Rules: PLATFORM-FACTS 2.1 [L] asm/svm.h; KVM sev_es_sync_from_ghcb / sev_es_sync_to_ghcb.
#include <array>
#include <cstring>

#include <gtest/gtest.h>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

using Page = std::array<std::byte, kGhcbPageSize>;

uint64_t load64(const Page& p, size_t off) {
  uint64_t v;
  std::memcpy(&v, p.data() + off, 8);
  return v;
}

const GhcbField kAllFields[] = {
    GhcbField::kCpl, GhcbField::kXss, GhcbField::kDr7, GhcbField::kRip, GhcbField::kRsp,
    GhcbField::kRax, GhcbField::kRcx, GhcbField::kRdx, GhcbField::kRbx, GhcbField::kRbp,
    GhcbField::kRsi, GhcbField::kRdi, GhcbField::kR8, GhcbField::kR9, GhcbField::kR10,
    GhcbField::kR11, GhcbField::kR12, GhcbField::kR13, GhcbField::kR14, GhcbField::kR15,
    GhcbField::kSwExitCode, GhcbField::kSwExitInfo1, GhcbField::kSwExitInfo2,
    GhcbField::kSwScratch, GhcbField::kXcr0};

// PLATFORM-FACTS 2.1: bitmap bit of a field = its offset / 8; offsets match the table.
TEST(GhcbPage, FieldBitIsOffsetDividedByEight) {
  const std::pair<GhcbField, size_t> expected[] = {
      {GhcbField::kCpl, 0x0CB},          {GhcbField::kXss, 0x140},
      {GhcbField::kDr7, 0x160},          {GhcbField::kRip, 0x178},
      {GhcbField::kRsp, 0x1D8},          {GhcbField::kRax, 0x1F8},
      {GhcbField::kRcx, 0x308},          {GhcbField::kRdx, 0x310},
      {GhcbField::kRbx, 0x318},          {GhcbField::kRbp, 0x328},
      {GhcbField::kRsi, 0x330},          {GhcbField::kRdi, 0x338},
      {GhcbField::kR8, 0x340},           {GhcbField::kR15, 0x378},
      {GhcbField::kSwExitCode, 0x390},   {GhcbField::kSwExitInfo1, 0x398},
      {GhcbField::kSwExitInfo2, 0x3A0},  {GhcbField::kSwScratch, 0x3A8},
      {GhcbField::kXcr0, 0x3E8}};
  for (auto [f, off] : expected) {
    EXPECT_EQ(ghcb_field_offset(f), off) << ghcb_field_name(f);
    EXPECT_EQ(static_cast<size_t>(f), off / 8) << "bitmap bit of " << ghcb_field_name(f);
  }
  for (GhcbField f : kAllFields) EXPECT_NE(ghcb_field_name(f), "unknown");
}

// PLATFORM-FACTS 2.1: bit i lives at byte 0x3F0 + i/8, bit i%8.
TEST(GhcbPage, WriteFieldSetsValueAndExactlyItsBit) {
  for (GhcbField f : kAllFields) {
    Page p{};
    write_field(p, f, 0x1122'3344'5566'7788);
    const unsigned bit = static_cast<unsigned>(f);
    for (unsigned i = 0; i < 128; ++i) {
      const bool set = (std::to_integer<unsigned>(p[0x3F0 + i / 8]) >> (i % 8)) & 1;
      EXPECT_EQ(set, i == bit) << "bit " << i << " after writing " << ghcb_field_name(f);
    }
    auto s = GhcbSnapshot::take(p);
    EXPECT_TRUE(s.is_valid(f));
    const uint64_t want = f == GhcbField::kCpl ? 0x88 : 0x1122'3344'5566'7788;
    EXPECT_EQ(s.raw(f), want) << ghcb_field_name(f);
    EXPECT_EQ(s.get_if_valid(f), want);
  }
}

// STYLE rule 12: the snapshot is one copy; later guest writes do not reach it.
TEST(GhcbPage, SnapshotIsACopy) {
  Page p{};
  write_field(p, GhcbField::kRax, 1);
  auto s = GhcbSnapshot::take(p);
  write_field(p, GhcbField::kRax, 2);
  p[0xFFC] = std::byte{1};
  EXPECT_EQ(s.raw(GhcbField::kRax), 1u) << "snapshot must not see later guest writes";
  EXPECT_EQ(s.page().ghcb_usage, 0u);
  EXPECT_TRUE(s.bytes(0xFF0, 17).empty()) << "range past the page must be empty";
  EXPECT_EQ(s.bytes(0x800, 0x7F0).size(), 0x7F0u);
}

// KVM sev_es_sync_from_ghcb [L]: registers only if valid (else 0), exit fields always.
TEST(GhcbPage, KvmSyncFromGhcbUsesOnlyValidRegisters) {
  Page p{};
  // Values present but bits not set.
  std::memcpy(p.data() + 0x1F8, "\x11\0\0\0\0\0\0\0", 8);  // rax
  std::memcpy(p.data() + 0x390, "\x72\0\0\0\0\0\0\0", 8);  // sw_exit_code
  std::memcpy(p.data() + 0x3E8, "\x07\0\0\0\0\0\0\0", 8);  // xcr0
  write_field(p, GhcbField::kRcx, 5);
  write_field(p, GhcbField::kCpl, 3);
  const VmgexitInputs in = kvm_sync_from_ghcb(GhcbSnapshot::take(p));
  EXPECT_EQ(in.rax, 0u) << "rax without its valid bit must read as 0";
  EXPECT_EQ(in.rcx, 5u);
  EXPECT_EQ(in.cpl, 3u);
  EXPECT_EQ(in.sw_exit_code, 0x72u) << "exit code is copied even when not valid";
  EXPECT_FALSE(in.xcr0.has_value()) << "xcr0 without its valid bit is not taken";
  EXPECT_FALSE(in.valid.test(GhcbField::kSwExitCode));
}

// KVM writes back: bitmap cleared, EXITINFO1/2 and RAX/RBX/RCX/RDX each with its bit [L].
TEST(GhcbPage, WriteResponseLeavesExactlyKvmsBits) {
  Page p{};
  write_field(p, GhcbField::kRsi, 9);
  write_field(p, GhcbField::kSwScratch, 0x1000);
  write_ghcb_response(p, {2, 4, 0xA, 0xB, 0xC, 0xD});
  auto s = GhcbSnapshot::take(p);
  ValidBitmap want;
  for (GhcbField f : {GhcbField::kRax, GhcbField::kRbx, GhcbField::kRcx, GhcbField::kRdx,
                      GhcbField::kSwExitInfo1, GhcbField::kSwExitInfo2}) {
    want.set(f);
  }
  EXPECT_EQ(s.valid_bitmap(), want);
  EXPECT_EQ(load64(p, 0x398), 2u);
  EXPECT_EQ(load64(p, 0x3A0), 4u);
  EXPECT_EQ(load64(p, 0x1F8), 0xAu);
  EXPECT_EQ(load64(p, 0x318), 0xBu);
  EXPECT_EQ(load64(p, 0x308), 0xCu);
  EXPECT_EQ(load64(p, 0x310), 0xDu);
  EXPECT_EQ(load64(p, 0x330), 9u) << "rsi value stays, only its bit goes";
}

// PLATFORM-FACTS 2.2: an error answers (2, code) or, for PSC, (0, status).
TEST(GhcbPage, ResponseForError) {
  auto r = response_for_error(malformed(GhcbErrorCode::kMissingInput, "x"), {0, 0, 1, 2, 3, 4});
  EXPECT_EQ(r.sw_exit_info_1, 2u);
  EXPECT_EQ(r.sw_exit_info_2, 4u);
  EXPECT_EQ(r.rax, 1u);
  auto q = response_for_error(psc_error(PscStatus::kInvalidEntry, "y"));
  EXPECT_EQ(q.sw_exit_info_1, 0u);
  EXPECT_EQ(q.sw_exit_info_2, 0x1'0000'0002u);
  EXPECT_EQ(ghcb_error_code_name(3), "INVALID_SCRATCH_AREA");
  EXPECT_EQ(ghcb_error_code_name(7), "UNKNOWN");
}

// PLATFORM-FACTS 2.2: EXITINFO1 = 1 asks the guest to take an exception; EXITINFO2 in
// event-injection format (vector 7:0, type 3 at 10:8, EV bit 11, V bit 31, error code 63:32).
TEST(GhcbPage, ExceptionResponse) {
  auto ud = exception_response(6, std::nullopt);
  EXPECT_EQ(ud.sw_exit_info_1, 1u);
  EXPECT_EQ(ud.sw_exit_info_2, 0x8000'0306u) << "#UD: vector 6, type 3, valid";
  auto gp = exception_response(13, 0x10);
  EXPECT_EQ(gp.sw_exit_info_2, 0x0000'0010'8000'0B0Du) << "#GP(0x10): EV bit 11 and error code";
}

TEST(GhcbPage, ValidBitmapBounds) {
  ValidBitmap v;
  v.set(127);
  v.set(128);  // out of range: ignored
  EXPECT_TRUE(v.test(127u));
  EXPECT_FALSE(v.test(128u));
  EXPECT_EQ(v.bytes[15], 0x80);
  v.clear(127);
  EXPECT_EQ(v, ValidBitmap{});
}

}  // namespace
}  // namespace snpemu::ghcb
