// Table-consistency tests for the NAE exit-code table (ghcb/nae.cc). PLATFORM-FACTS 2.3, 2.4.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "ghcb/ghcb.h"

namespace snpemu::ghcb {
namespace {

TEST(NaeTable, SortedUniqueAndFindable) {
  std::set<std::string_view> names;
  uint64_t prev = 0;
  for (const NaeEventRow& r : nae_event_table()) {
    const uint64_t c = static_cast<uint64_t>(r.code);
    EXPECT_GT(c, prev) << r.name << " out of order";
    prev = c;
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate name " << r.name;
    EXPECT_EQ(find_nae_event(c), &r) << r.name;
    EXPECT_EQ(nae_exit_name(c), r.name);
    EXPECT_LE(r.required_count, 3u) << r.name;
  }
  EXPECT_EQ(nae_event_table().size(), 33u);
  EXPECT_EQ(find_nae_event(0x8000'0006), nullptr);
  EXPECT_EQ(nae_exit_name(0xF000'0000), "UNKNOWN");
}

// PLATFORM-FACTS 2.3 spot checks against uapi svm.h values.
TEST(NaeTable, KnownCodes) {
  EXPECT_EQ(nae_exit_name(0x72), "CPUID");
  EXPECT_EQ(nae_exit_name(0x8000'0010), "PSC");
  EXPECT_EQ(nae_exit_name(0x8000'0013), "AP_CREATION");
  EXPECT_EQ(nae_exit_name(0x8000'FFFE), "TERM_REQUEST");
  const NaeEventRow* psc = find_nae_event(0x8000'0010);
  ASSERT_NE(psc, nullptr);
  EXPECT_TRUE(psc->snp_only);
  EXPECT_EQ(psc->required_count, 1);
  EXPECT_EQ(psc->required[0], GhcbField::kSwScratch);
  // Exactly the 25 codes of KVM's sev_es_validate_vmgexit switch are accepted.
  int accepted = 0;
  for (const NaeEventRow& r : nae_event_table()) accepted += r.kvm_accepts;
  EXPECT_EQ(accepted, 25);
}

// PLATFORM-FACTS 1.7: NAE TERM_REQUEST EXITINFO1[3:0] set, [11:4] code.
TEST(NaeTable, TermDecode) {
  EXPECT_EQ(decode_nae_term(0x21), (TermRequest{1, 2}));
  EXPECT_EQ(decode_nae_term(0xFFFF'FFFF), (TermRequest{0xF, 0xFF}));
}

}  // namespace
}  // namespace snpemu::ghcb
