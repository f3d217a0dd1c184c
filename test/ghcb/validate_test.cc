// Tests for KVM's GHCB validation and scratch rules (ghcb/validate.cc, ghcb/nae.cc).
// Rules: PLATFORM-FACTS 2.4, 2.5 [L] kvm/svm/sev.c sev_es_validate_vmgexit,
// setup_vmgexit_scratch, sev_es_string_io.
#include <array>
#include <climits>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

using F = GhcbField;
using Page = std::array<std::byte, kGhcbPageSize>;

struct Row {
  std::string rule;  // the PLATFORM-FACTS 2.4 row this checks
  uint64_t code;
  uint64_t info1;
  uint64_t info2;
  std::vector<F> valid;  // besides sw_exit_code/info1/info2
  uint64_t rax;
  bool snp;
  int expect;  // 0 = accepted, else GHCB error code in EXITINFO2
};

std::expected<void, GhcbError> run(const Row& r) {
  Page p{};
  write_field(p, F::kSwExitCode, r.code);
  write_field(p, F::kSwExitInfo1, r.info1);
  write_field(p, F::kSwExitInfo2, r.info2);
  for (F f : r.valid) write_field(p, f, f == F::kRax ? r.rax : 0x1000);
  return validate_vmgexit(GhcbSnapshot::take(p), VmgexitContext{r.snp});
}

const uint64_t kApic = uint64_t{7} << 32;

// One case per row of the PLATFORM-FACTS 2.4 table (missing and satisfied).
const Row kRows[] = {
    {"DR7 read: none", 0x27, 0, 0, {}, 0, false, 0},
    {"DR7 write: RAX missing", 0x37, 0, 0, {}, 0, false, 4},
    {"DR7 write: RAX", 0x37, 0, 0, {F::kRax}, 0, false, 0},
    {"RDTSC: none", 0x6E, 0, 0, {}, 0, false, 0},
    {"RDPMC: RCX missing", 0x6F, 0, 0, {}, 0, false, 4},
    {"RDPMC: RCX", 0x6F, 0, 0, {F::kRcx}, 0, false, 0},
    {"CPUID: RCX missing", 0x72, 0, 0, {F::kRax}, 1, false, 4},
    {"CPUID: RAX missing", 0x72, 0, 0, {F::kRcx}, 0, false, 4},
    {"CPUID: RAX, RCX", 0x72, 0, 0, {F::kRax, F::kRcx}, 1, false, 0},
    {"CPUID 0xD: XCR0 missing", 0x72, 0, 0, {F::kRax, F::kRcx}, 0xD, false, 4},
    {"CPUID 0xD: XCR0", 0x72, 0, 0, {F::kRax, F::kRcx, F::kXcr0}, 0xD, false, 0},
    {"CPUID 0x1_0000_000D is not 0xD", 0x72, 0, 0, {F::kRax, F::kRcx}, 0x1'0000'000D, false, 0},
    {"INVD: none", 0x76, 0, 0, {}, 0, false, 0},
    {"IOIO string: scratch missing", 0x7B, 0x4, 0, {F::kRax}, 0, false, 4},
    {"IOIO string: scratch", 0x7B, 0x4, 0, {F::kSwScratch}, 0, false, 0},
    {"IOIO OUT: RAX missing", 0x7B, 0x0, 0, {}, 0, false, 4},
    {"IOIO OUT: RAX", 0x7B, 0x0, 0, {F::kRax}, 0, false, 0},
    {"IOIO IN: nothing needed", 0x7B, 0x1, 0, {}, 0, false, 0},
    {"MSR: RCX missing", 0x7C, 0, 0, {}, 0, false, 4},
    {"MSR read: RCX", 0x7C, 0, 0, {F::kRcx}, 0, false, 0},
    {"MSR write: RDX missing", 0x7C, 1, 0, {F::kRcx, F::kRax}, 0, false, 4},
    {"MSR write: RAX missing", 0x7C, 1, 0, {F::kRcx, F::kRdx}, 0, false, 4},
    {"MSR write (any non-zero info1)", 0x7C, 1ull << 40, 0, {F::kRcx, F::kRax, F::kRdx}, 0,
     false, 0},
    {"VMMCALL: CPL missing", 0x81, 0, 0, {F::kRax}, 0, false, 4},
    {"VMMCALL: RAX, CPL", 0x81, 0, 0, {F::kRax, F::kCpl}, 0, false, 0},
    {"RDTSCP: none", 0x87, 0, 0, {}, 0, false, 0},
    {"WBINVD: none", 0x89, 0, 0, {}, 0, false, 0},
    {"MONITOR: RDX missing", 0x8A, 0, 0, {F::kRax, F::kRcx}, 0, false, 4},
    {"MONITOR: RAX, RCX, RDX", 0x8A, 0, 0, {F::kRax, F::kRcx, F::kRdx}, 0, false, 0},
    {"MWAIT: RCX missing", 0x8B, 0, 0, {F::kRax}, 0, false, 4},
    {"MWAIT: RAX, RCX", 0x8B, 0, 0, {F::kRax, F::kRcx}, 0, false, 0},
    {"MMIO read: scratch missing", 0x8000'0001, 0, 8, {}, 0, false, 4},
    {"MMIO read: scratch", 0x8000'0001, 0, 8, {F::kSwScratch}, 0, false, 0},
    {"MMIO write: scratch missing", 0x8000'0002, 0, 8, {}, 0, false, 4},
    {"MMIO write: scratch", 0x8000'0002, 0, 8, {F::kSwScratch}, 0, false, 0},
    {"AP creation: non-SNP", 0x8000'0013, kApic | 1, 0, {F::kRax}, 0, false, 4},
    {"AP creation create: RAX missing", 0x8000'0013, kApic | 1, 0, {}, 0, true, 4},
    {"AP creation create-on-INIT: RAX missing", 0x8000'0013, 0, 0, {}, 0, true, 4},
    {"AP creation create: RAX", 0x8000'0013, kApic | 1, 0, {F::kRax}, 0, true, 0},
    {"AP creation destroy: no RAX", 0x8000'0013, kApic | 2, 0, {}, 0, true, 0},
    {"NMI_COMPLETE", 0x8000'0003, 0, 0, {}, 0, false, 0},
    {"AP_HLT_LOOP", 0x8000'0004, 0, 0, {}, 0, false, 0},
    {"AP_JUMP_TABLE", 0x8000'0005, 7, 0, {}, 0, false, 0},
    {"UNSUPPORTED_EVENT", 0x8000'FFFF, 0, 0, {}, 0, false, 0},
    {"HV_FEATURES", 0x8000'FFFD, 0, 0, {}, 0, false, 0},
    {"TERM_REQUEST", 0x8000'FFFE, 0x21, 0, {}, 0, false, 0},
    {"PSC: non-SNP", 0x8000'0010, 0, 0, {F::kSwScratch}, 0, false, 4},
    {"PSC: scratch missing", 0x8000'0010, 0, 0, {}, 0, true, 4},
    {"PSC: scratch", 0x8000'0010, 0, 0, {F::kSwScratch}, 0, true, 0},
    {"GUEST_REQUEST: non-SNP", 0x8000'0011, 0x1000, 0x2000, {}, 0, false, 4},
    {"GUEST_REQUEST: info1 unaligned", 0x8000'0011, 0x1008, 0x2000, {}, 0, true, 4},
    {"GUEST_REQUEST: info2 unaligned", 0x8000'0011, 0x1000, 0x2001, {}, 0, true, 4},
    {"GUEST_REQUEST: same page", 0x8000'0011, 0x1000, 0x1000, {}, 0, true, 4},
    {"GUEST_REQUEST: ok", 0x8000'0011, 0x1000, 0x2000, {}, 0, true, 0},
    {"EXT_GUEST_REQUEST: same page", 0x8000'0012, 0x3000, 0x3000, {}, 0, true, 4},
    {"EXT_GUEST_REQUEST: ok", 0x8000'0012, 0x3000, 0x4000, {}, 0, true, 0},
    {"anything else: INVALID_EVENT", 0x1234, 0, 0, {}, 0, true, 6},
    {"NPF through the GHCB: INVALID_EVENT", 0x400, 0, 0, {}, 0, true, 6},
    {"HV doorbell [L-patch]: INVALID_EVENT", 0x8000'0014, 0, 0, {}, 0, true, 6},
    {"SVM_EXIT_SW: INVALID_EVENT", 0xF000'0000, 0, 0, {}, 0, true, 6},
};

TEST(ValidateVmgexit, EveryRequiredRegisterRow) {
  for (const Row& r : kRows) {
    auto res = run(r);
    if (r.expect == 0) {
      EXPECT_TRUE(res.has_value()) << r.rule << ": expected accepted, got (2, "
                                   << (res ? 0 : res.error().code) << ")";
    } else {
      ASSERT_FALSE(res.has_value()) << r.rule << ": expected (2, " << r.expect << "), accepted";
      EXPECT_EQ(res.error().kind, GhcbErrorKind::kMalformedInput) << r.rule;
      EXPECT_EQ(error_sw_exit_info_1(res.error()), 2u) << r.rule;
      EXPECT_EQ(res.error().code, uint64_t(r.expect)) << r.rule << ": expected (2, " << r.expect
                                                      << "), got (2, " << res.error().code << ")";
    }
  }
}

// PLATFORM-FACTS 2.4 "Always": usage first, then the three exit fields.
TEST(ValidateVmgexit, AlwaysRules) {
  Page p{};
  write_field(p, F::kSwExitCode, 0x6E);
  write_field(p, F::kSwExitInfo1, 0);
  write_field(p, F::kSwExitInfo2, 0);
  EXPECT_TRUE(validate_vmgexit(GhcbSnapshot::take(p), {}).has_value());
  Page bad_usage = p;
  bad_usage[0xFFC] = std::byte{1};
  auto e = validate_vmgexit(GhcbSnapshot::take(bad_usage), {});
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, 2u) << "ghcb_usage != 0 must answer INVALID_USAGE";
  // Usage is checked before everything else, even an unknown code without valid bits.
  Page usage_and_unknown{};
  usage_and_unknown[0xFFF] = std::byte{0x80};
  EXPECT_EQ(validate_vmgexit(GhcbSnapshot::take(usage_and_unknown), {}).error().code, 2u);
  for (unsigned bit : {114u, 115u, 116u}) {
    Page q = p;
    q[0x3F0 + bit / 8] &= ~std::byte{static_cast<uint8_t>(1u << (bit % 8))};
    auto m = validate_vmgexit(GhcbSnapshot::take(q), {});
    ASSERT_FALSE(m.has_value()) << "bit " << bit << " cleared must be MISSING_INPUT";
    EXPECT_EQ(m.error().code, 4u);
  }
  // An unknown code without valid exit fields is MISSING_INPUT, not INVALID_EVENT (order).
  Page unknown{};
  write_field(unknown, F::kSwExitCode, 0x1234);
  EXPECT_EQ(validate_vmgexit(GhcbSnapshot::take(unknown), {}).error().code, 4u);
}

// The table and the validator agree: KVM-accepted rows with every input valid pass.
TEST(ValidateVmgexit, TableRowsWithAllInputsPass) {
  for (const NaeEventRow& row : nae_event_table()) {
    Page p{};
    write_field(p, F::kSwExitCode, static_cast<uint64_t>(row.code));
    write_field(p, F::kSwExitInfo1, 0x1000);
    write_field(p, F::kSwExitInfo2, 0x2000);
    for (F f : {F::kRax, F::kRbx, F::kRcx, F::kRdx, F::kCpl, F::kXcr0, F::kSwScratch}) {
      write_field(p, f, 0x1000);
    }
    auto r = validate_vmgexit(GhcbSnapshot::take(p), VmgexitContext{true});
    EXPECT_EQ(r.has_value(), row.kvm_accepts) << row.name;
    if (!row.kvm_accepts) {
      EXPECT_EQ(r.error().code, 6u) << row.name;
    }
  }
}

// PLATFORM-FACTS 2.5 scratch rules.
TEST(ScratchArea, Rules) {
  const uint64_t ghcb = 0x10000;
  auto code = [&](uint64_t gpa, uint64_t len) -> uint64_t {
    auto r = check_scratch_area(ghcb, gpa, len);
    return r ? 0 : r.error().code;
  };
  EXPECT_EQ(code(0, 8), 3u) << "GPA 0";
  EXPECT_EQ(code(~uint64_t{0} - 7, 16), 3u) << "gpa + len overflow";
  // Inside the GHCB page: wholly within [0x800, 0xFF0).
  auto whole = check_scratch_area(ghcb, ghcb + 0x800, 0x7F0);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(*whole, (ScratchArea{ghcb + 0x800, 0x7F0, true, 0x800}));
  EXPECT_EQ(code(ghcb + 0x7FF, 1), 3u) << "starts one byte before the shared buffer";
  EXPECT_EQ(code(ghcb + 0x800, 0x7F1), 3u) << "ends one byte past the shared buffer";
  EXPECT_EQ(code(ghcb + 0xFEF, 1), 0u) << "last byte of the shared buffer";
  EXPECT_EQ(code(ghcb + 0xFF0, 0), 0u) << "empty area at the end boundary";
  EXPECT_EQ(code(ghcb + 0xFF0, 1), 3u) << "reserved bytes after the shared buffer";
  EXPECT_EQ(code(ghcb + 0x10, 8), 3u) << "save area";
  EXPECT_EQ(code(ghcb + 0x800, 0x100000), 3u) << "in GHCB, too long: buffer rule, not 16 pages";
  // Outside the GHCB page: at most 16 pages.
  auto outside = check_scratch_area(ghcb, 0x200000, 16 * 4096);
  ASSERT_TRUE(outside.has_value());
  EXPECT_FALSE(outside->in_ghcb);
  EXPECT_EQ(code(0x200000, 16 * 4096 + 1), 3u) << "> 16 pages";
  EXPECT_EQ(code(ghcb + 0x1000, 8), 0u) << "next page is outside the GHCB";
  EXPECT_EQ(code(ghcb - 8, 16), 0u) << "starts before the GHCB page: outside rule applies";
}

// sev_es_string_io: count > INT_MAX or int overflow -> KVM_RUN -EINVAL (no guest answer).
TEST(ScratchArea, StringIoLength) {
  EXPECT_EQ(string_io_scratch_len(3, 4), 12u);
  EXPECT_EQ(string_io_scratch_len(INT_MAX, 1), uint64_t(INT_MAX));
  EXPECT_FALSE(string_io_scratch_len(uint64_t(INT_MAX) + 1, 1).has_value());
  EXPECT_FALSE(string_io_scratch_len(0x4000'0000, 2).has_value());
  EXPECT_EQ(string_io_scratch_len(0x3FFF'FFFF, 2), 0x7FFF'FFFEu);
}

}  // namespace
}  // namespace snpemu::ghcb
