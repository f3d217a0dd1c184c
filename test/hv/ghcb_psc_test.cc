// PSC through the GHCB (NAE 0x8000_0010): the descriptor in the shared buffer, one
// KVM_HC_MAP_GPA_RANGE exit per contiguous range, progress written back, the PSC status in
// SW_EXITINFO2 (PLATFORM-FACTS 3.1-3.3 [L] sev.c snp_begin_psc).
#include <gtest/gtest.h>

#include "base/hex.h"
#include "base/serializer.h"
#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t kPsc = 0x8000'0010;
constexpr size_t kDesc = ghcb::kGhcbSharedBufferOffset;
constexpr uint64_t kDescGpa = kGhcbGpa + kDesc;

struct PscFixture : GhcbFixture {
  PscFixture() : GhcbFixture(VmType::kSnp) {
    vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);  // register the GHCB
  }
  void descriptor(uint16_t cur, uint16_t end, std::initializer_list<ghcb::PscEntry> entries) {
    const uint16_t hdr[2] = {cur, end};
    put_shared(kDesc, hdr, 4);
    const uint32_t reserved = 0;
    put_shared(kDesc + 4, &reserved, 4);
    size_t off = kDesc + 8;
    for (const ghcb::PscEntry& e : entries) {
      const uint64_t raw = e.encode();
      put_shared(off, &raw, 8);
      off += 8;
    }
    call(kPsc, 0, 0);
    set(F::kSwScratch, kDescGpa);
  }
  uint16_t cur_entry() { return static_cast<uint16_t>(read_gpa64(kDescGpa)); }
  ghcb::PscEntry entry(unsigned i) { return ghcb::PscEntry::decode(read_gpa64(kDescGpa + 8 + 8 * i)); }
};

TEST(GhcbPsc, ContiguousEntriesAreOneRangeAndProgressIsWrittenBack) {
  PscFixture f;
  f.descriptor(0, 2, {{.gfn = 0x100, .operation = 1}, {.gfn = 0x101, .operation = 1},
                      {.gfn = 0x300, .operation = 2}});
  ExitOutcome o = f.vmgexit();
  ASSERT_EQ(o.path, ExitPath::kGhcbPscExit);
  EXPECT_EQ(f.vcpu.run.hypercall.nr, kKvmHcMapGpaRange);
  EXPECT_EQ(f.vcpu.run.hypercall.args[0], 0x100'000u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[1], 2u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[2], 0x10u) << "private, 4K";
  o = f.complete();
  ASSERT_EQ(o.path, ExitPath::kGhcbPscExit);
  EXPECT_EQ(f.vcpu.run.hypercall.args[0], 0x300'000u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[1], 1u);
  EXPECT_EQ(f.vcpu.run.hypercall.args[2], 0x0u) << "shared, 4K";
  o = f.complete();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), 0u);
  EXPECT_EQ(f.cur_entry(), 3u);
  for (unsigned i = 0; i < 3; ++i) EXPECT_EQ(f.entry(i).cur_page, 1u) << "entry " << i;
}

TEST(GhcbPsc, FailingVmmResultStopsWithTheGenericError) {
  PscFixture f;
  f.descriptor(0, 1, {{.gfn = 0x100, .operation = 1}, {.gfn = 0x300, .operation = 2}});
  ASSERT_EQ(f.vmgexit().path, ExitPath::kGhcbPscExit);
  ASSERT_EQ(f.complete().path, ExitPath::kGhcbPscExit);  // first range done
  f.vcpu.run.hypercall.ret = 14;
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), uint64_t{0x100} << 32);
  EXPECT_EQ(f.cur_entry(), 1u) << "the first entry's progress is kept";
  EXPECT_EQ(f.entry(0).cur_page, 1u);
  EXPECT_EQ(f.entry(1).cur_page, 0u);
}

TEST(GhcbPsc, InvalidHeaderAndEntry) {
  PscFixture f;
  f.descriptor(0, 253, {});
  f.vmgexit();
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.info2(), (uint64_t{1} << 32) | 1) << "invalid header";
  f.descriptor(0, 0, {{.gfn = 0x101, .operation = 1, .pagesize = true}});  // 2M unaligned
  f.vmgexit();
  EXPECT_EQ(f.info2(), (uint64_t{1} << 32) | 2) << "invalid entry";
}

TEST(GhcbPsc, NotEnabledAndNonSnp) {
  PscFixture f;
  f.vmctx.options.hypercall_exit_enabled = 0;
  f.descriptor(0, 0, {{.gfn = 0x100, .operation = 1}});
  EXPECT_EQ(f.vmgexit().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.info2(), uint64_t{0x100} << 32);
  GhcbFixture es(VmType::kSevEs);
  es.call(kPsc, 0, 0);
  es.set(F::kSwScratch, kDescGpa);
  es.vmgexit();
  EXPECT_EQ(es.info1(), 2u);
  EXPECT_EQ(es.info2(), 4u) << "SNP-only event from SEV-ES: MISSING_INPUT as KVM";
}


// A snapshot of the vCPU taken while a PSC range is with the VMM resumes the same scan.
TEST(GhcbPsc, RoundTripSurvivesASnapshot) {
  PscFixture f;
  f.descriptor(0, 1, {{.gfn = 0x100, .operation = 1}, {.gfn = 0x300, .operation = 2}});
  ASSERT_EQ(f.vmgexit().path, ExitPath::kGhcbPscExit);
  Serializer w = Serializer::writer();
  f.vcpu.serialize(w);
  const std::vector<uint8_t> bytes = w.bytes();
  VcpuState restored;
  Serializer r = Serializer::reader(bytes);
  restored.serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  f.vcpu = restored;
  ASSERT_EQ(f.complete().path, ExitPath::kGhcbPscExit);
  EXPECT_EQ(f.vcpu.run.hypercall.args[0], 0x300'000u);
  EXPECT_EQ(f.complete().action, ExitAction::kResumeGuest);
  EXPECT_EQ(f.cur_entry(), 2u);
  EXPECT_EQ(f.info2(), 0u);
}

}  // namespace
}  // namespace snpemu::hv::test
