// test/rmp/cross_check_test.cc: seeded random sequences of RMPUPDATE / PSMASH / RMPREAD /
// PVALIDATE / RMPADJUST / VMSA in-use changes / host and guest access checks, run on rmp/ and on
// the reference model, compared outcome by outcome and entry by entry. 12 runs x 150,000 ops =
// 1,800,000 operations (4 of them with tables read off the fast path); every failure message
// names the seed and the operation index.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <map>
#include <cstdio>
#include <string>
#include <tuple>

#include "test/rmp/fixture.h"
#include "test/rmp/reference_model.h"

namespace snpemu::rmp::testing {
namespace {

constexpr uint64_t kOpsPerRun = 150'000;
constexpr uint64_t kFullCompareEvery = 16'384;

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E37'79B9'7F4A'7C15);
    z = (z ^ (z >> 30)) * 0xBF58'476D'1CE4'E5B9;
    z = (z ^ (z >> 27)) * 0x94D0'49BB'1331'11EB;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
  bool chance(unsigned pct) { return below(100) < pct; }
};

class CrossCheck : public ::testing::TestWithParam<std::tuple<Layout, uint64_t, Backing>> {
 protected:
  void SetUp() override {
    layout_ = std::get<0>(GetParam());
    seed_ = std::get<1>(GetParam());
    backing_ = std::get<2>(GetParam());
    m_ = make_machine(layout_, backing_);
    ASSERT_EQ(m_.rmp->direct_lookup(), backing_ == Backing::kDirect)
        << (m_.rmp->backing_error() ? m_.rmp->backing_error()->message() : "no backing error");
    ref_.emplace(m_.covered, m_.rmp_pages);
    rng_.s = seed_;
    regions_ = layout_ == Layout::kContiguous
                   ? std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 253, 254}
                   : std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 256, 384};
  }

  std::string where() const {
    char buf[400];
    std::snprintf(buf, sizeof buf, "seed 0x%" PRIx64 " layout %s%s op #%" PRIu64 " (%s)", seed_,
                  layout_ == Layout::kContiguous ? "contiguous" : "segmented",
                  backing_ == Backing::kDirect ? "" : " (tables touched first)", op_, desc_);
    return buf;
  }

  bool compare_region(uint64_t head) {
    for (uint64_t p = head; p < head + 512; ++p) {
      const RmpEntry got = m_.rmp->entry(Pfn{p});
      const RmpEntry want = ref_->entry(p);
      if (got != want) {
        ADD_FAILURE() << where() << ": expected entry " << want.to_string() << " at pfn 0x"
                      << std::hex << p << ", got " << got.to_string();
        return false;
      }
    }
    return true;
  }
  bool compare_all() {
    for (uint64_t r : regions_) {
      if (!compare_region(r * 512)) return false;
    }
    return true;
  }

  // A third of the picks revisit a page that recently changed, so multi-step scenarios (assign,
  // validate, adjust, access) happen on the same page often enough.
  uint64_t pick_pfn(bool head) {
    if (!recent_.empty() && rng_.chance(35)) {
      const uint64_t p = recent_[rng_.below(recent_.size())];
      return head ? p & ~uint64_t{511} : p;
    }
    const uint64_t region = regions_[rng_.below(regions_.size())];
    return region * 512 + (head || rng_.chance(40) ? 0 : rng_.below(512));
  }
  uint32_t pick_guest_asid(uint64_t pfn) {
    const RefPage p = ref_->page(pfn);
    const uint32_t asid = p.assigned && rng_.chance(75) ? p.asid : 1 + uint32_t(rng_.below(3));
    return rng_.chance(1) ? asid + 2048 : asid;  // unrepresentable ASID aliasing a valid one
  }
  uint64_t pick_gpa(uint64_t pfn, uint32_t asid) {
    const RefPage p = ref_->page(pfn);
    if (p.assigned && rng_.chance(85)) return p.gpa;
    const uint64_t canonical = (pfn << 12) + (uint64_t{asid} << 32);
    return rng_.chance(90) ? canonical : canonical + (rng_.below(4) << 12);
  }
  MappingSize pick_mapping(uint64_t pfn) {
    if (rng_.chance(60)) {
      return ref_->page(pfn).big ? (rng_.chance(80) ? MappingSize::k2M : MappingSize::k1G)
                                 : MappingSize::k4K;
    }
    return static_cast<MappingSize>(rng_.below(3));
  }

  bool op_rmpupdate() {
    const bool big = rng_.chance(30);
    const uint64_t pfn = pick_pfn(big) & (big ? ~uint64_t{511} : ~uint64_t{0});
    uint64_t hpa = pfn << 12;
    RmpStateView s;
    s.pagesize = big;
    if (rng_.chance(70)) {
      s.assigned = 1;
      s.asid = uint32_t(rng_.below(4));
      s.gpa = ((pfn << 12) + (uint64_t{s.asid} << 32)) + (rng_.chance(10) ? (rng_.below(3) << 12) : 0);
      s.immutable = rng_.chance(4);
    }
    if (rng_.chance(5)) {
      switch (rng_.below(7)) {
        case 0: s.rsvd = 1; break;
        case 1: s.pagesize = 2; break;
        case 2: s.asid = 1024 + uint32_t(rng_.below(5)); break;
        case 3: s.gpa |= 0x800; break;
        case 4: s.assigned = 2; break;
        case 5: hpa |= 0x10; break;
        default: s.assigned = 0; s.gpa = 0x1000; break;
      }
    }
    std::snprintf(desc_, sizeof desc_, "RMPUPDATE hpa 0x%" PRIx64 " gpa 0x%" PRIx64 " a%u s%u i%u asid %u",
                  hpa, s.gpa, s.assigned, s.pagesize, s.immutable, s.asid);
    const InsnResult want = ref_->rmpupdate(hpa, s);
    const InsnResult got = rmpupdate(*m_.rmp, Hpa{hpa}, s);
    return check_insn(want, got, pfn);
  }

  bool op_psmash() {
    const uint64_t pfn = pick_pfn(rng_.chance(85));
    std::snprintf(desc_, sizeof desc_, "PSMASH hpa 0x%" PRIx64, pfn << 12);
    return check_insn(ref_->psmash(pfn << 12), psmash(*m_.rmp, Hpa{pfn << 12}), pfn);
  }

  bool op_guest_insn(bool is_pvalidate) {
    const bool big = rng_.chance(30);
    const uint64_t pfn = pick_pfn(big);
    const uint32_t asid = pick_guest_asid(pfn);
    const uint8_t vmpl = rng_.chance(is_pvalidate ? 85 : 50) ? 0 : uint8_t(1 + rng_.below(3));
    const uint64_t gpa = pick_gpa(pfn, asid) + (rng_.chance(20) ? rng_.below(4096) : 0);
    const uint64_t va = (gpa & ~uint64_t{0xFFF}) + (rng_.chance(5) ? 0x1000 : 0);
    const MappingSize mapping = pick_mapping(pfn);
    const GuestPageRef page{Gva{va}, Gpa{gpa}, Hpa{pfn << 12}, mapping};
    const GuestContext ctx{Asid{asid}, Vmpl{vmpl}};
    InsnResult want, got;
    if (is_pvalidate) {
      const bool validate = rng_.chance(60);
      std::snprintf(desc_, sizeof desc_, "PVALIDATE hpa 0x%" PRIx64 " gpa 0x%" PRIx64 " asid %u vmpl %u map %d %s %s",
                    pfn << 12, gpa, asid, vmpl, int(mapping), big ? "2M" : "4K", validate ? "validate" : "rescind");
      want = ref_->pvalidate(asid, vmpl, va, gpa, pfn << 12, mapping, big, validate);
      got = pvalidate(*m_.rmp, ctx, page, big ? PageSize::k2M : PageSize::k4K, validate);
    } else {
      uint64_t target = rng_.chance(95) ? rng_.below(4) : rng_.below(256);
      uint64_t perms = rng_.below(16);
      if (rng_.chance(40)) perms &= ref_->page(pfn).perms[vmpl];
      // VMSA bit: often the page's current value (what a VMPL>0 caller must pass), else random.
      const bool vmsa = rng_.chance(50) ? ref_->page(pfn).vmsa : rng_.chance(15);
      uint64_t attrs = target | (perms << 8) | (vmsa ? adjust::kVmsa : 0);
      if (rng_.chance(3)) attrs |= uint64_t{1} << (rng_.chance(50) ? 12 + rng_.below(4) : 17 + rng_.below(47));
      std::snprintf(desc_, sizeof desc_, "RMPADJUST hpa 0x%" PRIx64 " gpa 0x%" PRIx64 " asid %u vmpl %u map %d %s attrs 0x%" PRIx64,
                    pfn << 12, gpa, asid, vmpl, int(mapping), big ? "2M" : "4K", attrs);
      want = ref_->rmpadjust(asid, vmpl, va, gpa, pfn << 12, mapping, big, attrs);
      got = rmpadjust(*m_.rmp, ctx, page, big ? PageSize::k2M : PageSize::k4K, attrs);
    }
    return check_insn(want, got, pfn);
  }

  bool op_guest_access() {
    const uint64_t pfn = pick_pfn(false);
    const uint32_t asid = pick_guest_asid(pfn);
    GuestAccess a;
    a.ctx = GuestContext{Asid{asid}, Vmpl{uint8_t(rng_.chance(60) ? 0 : 1 + rng_.below(rng_.chance(2) ? 7 : 3))}};
    a.gpa = Gpa{pick_gpa(pfn, asid) + rng_.below(4096)};
    a.hpa = Hpa{(pfn << 12) + rng_.below(4096)};
    a.type = static_cast<AccessType>(rng_.below(3));
    a.user = rng_.chance(30);
    a.c_bit = rng_.chance(75);
    a.mapping = pick_mapping(pfn);
    a.page_table_walk = rng_.chance(10);
    std::snprintf(desc_, sizeof desc_, "guest access hpa 0x%" PRIx64 " gpa 0x%" PRIx64 " asid %u vmpl %u type %d c %d map %d",
                  a.hpa.value, a.gpa.value, asid, a.ctx.vmpl.value, int(a.type), a.c_bit, int(a.mapping));
    return check_access(ref_->guest_access(a), check_guest_access(*m_.rmp, a));
  }

  bool op_host_access() {
    const uint64_t hpa = (pick_pfn(false) << 12) + rng_.below(4096);
    const auto type = static_cast<AccessType>(rng_.below(3));
    const bool user = rng_.chance(20);
    const auto mapping = static_cast<MappingSize>(rng_.below(3));
    std::snprintf(desc_, sizeof desc_, "host access hpa 0x%" PRIx64 " type %d map %d", hpa,
                  int(type), int(mapping));
    return check_access(ref_->host_access(hpa, type, user, mapping),
                        check_host_access(*m_.rmp, HostAccess{Hpa{hpa}, type, user, mapping}));
  }

  bool op_rmpread() {
    const uint64_t hpa = (pick_pfn(false) << 12) + rng_.below(4096);
    std::snprintf(desc_, sizeof desc_, "RMPREAD hpa 0x%" PRIx64, hpa);
    const RmpReadResult want = ref_->rmpread(hpa);
    const RmpReadResult got = rmpread(*m_.rmp, Hpa{hpa});
    if (want.result != got.result || want.view != got.view) {
      ADD_FAILURE() << where() << ": expected " << want.result.to_string() << " gpa 0x" << std::hex
                    << want.view.gpa << ", got " << got.result.to_string() << " gpa 0x" << got.view.gpa;
      return false;
    }
    return true;
  }

  bool op_in_use() {
    // Few VMSAs run at once: mostly end a running one (#VMEXIT), sometimes start one (VMRUN).
    const bool in_use = in_use_.empty() || rng_.chance(30);
    uint64_t pfn;
    if (in_use) {
      pfn = pick_pfn(false);
      in_use_.push_back(pfn);
    } else {
      const size_t i = rng_.below(in_use_.size());
      pfn = in_use_[i];
      in_use_.erase(in_use_.begin() + long(i));
    }
    std::snprintf(desc_, sizeof desc_, "VMSA in use pfn 0x%" PRIx64 " = %d", pfn, in_use);
    ref_->set_in_use(pfn, in_use);
    m_.rmp->set_vmsa_in_use(Pfn{pfn}, in_use);
    return true;
  }

  bool check_insn(const InsnResult& want, const InsnResult& got, uint64_t pfn,
                  bool compare_entries = true) {
    if (want != got) {
      ADD_FAILURE() << where() << ": expected " << want.to_string() << ", got " << got.to_string();
      return false;
    }
    ++outcomes_[label(want)];
    if (!want.fault && want.rc == RmpRc::kSuccess && !want.cf) {
      recent_[recent_next_++ % recent_.size()] = pfn;
    }
    if (compare_entries && !want.fault && want.rc == RmpRc::kSuccess && !want.cf) {
      return compare_region(pfn & ~uint64_t{511});
    }
    return true;
  }
  bool check_access(const AccessResult& want, const AccessResult& got) {
    if (want != got) {
      ADD_FAILURE() << where() << ": expected check " << int(want.check) << " "
                    << (want.fault ? want.fault->to_string() : "allowed") << ", got check "
                    << int(got.check) << " " << (got.fault ? got.fault->to_string() : "allowed");
      return false;
    }
    ++outcomes_[want.fault ? label(*want.fault) : std::string("access allowed")];
    return true;
  }

  static std::string label(const Fault& f) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s 0x%" PRIx64,
                  f.kind == Fault::Kind::kNpf ? "#NPF" : f.kind == Fault::Kind::kVc ? "#VC" : "#PF",
                  f.error_code & (npf::kPresent | npf::kRmp | npf::kEnc | npf::kSizem | npf::kVmpl));
    return buf;
  }
  std::string label(const InsnResult& r) const {
    if (r.fault) return label(*r.fault);
    return std::string(desc_, 0, std::string(desc_).find(' ')) + " " +
           rc_name(r.rc, std::string(desc_).starts_with("PSMASH")) + (r.cf ? " CF=1" : "");
  }

  // Firmware SNP_PAGE_RECLAIM on every immutable page of a region (clears Immutable), so that
  // immutable pages do not accumulate and freeze the state space. Not an rmp/ rule under test.
  bool op_reclaim() {
    const uint64_t head = pick_pfn(true);
    std::snprintf(desc_, sizeof desc_, "reclaim region 0x%" PRIx64, head);
    for (uint64_t p = head; p < head + 512; ++p) {
      if (!ref_->page(p).immutable) continue;
      ref_->reclaim(p);
      RmpEntry e = m_.rmp->entry(Pfn{p});
      e.immutable = false;
      m_.rmp->store(Pfn{p}, e);
    }
    return compare_region(head);
  }

  // KVM sev_gmem_invalidate on a whole region (PLATFORM-FACTS 4.9): 2M make-shared if the
  // entry is 2M, else 4K make-shared page by page; every step compared.
  bool op_invalidate() {
    const uint64_t head = pick_pfn(true);
    std::snprintf(desc_, sizeof desc_, "invalidate region 0x%" PRIx64, head);
    RmpStateView shared;
    if (ref_->page(head).big) {
      shared.pagesize = 1;
      return check_insn(ref_->rmpupdate(head << 12, shared),
                        rmpupdate(*m_.rmp, Hpa{head << 12}, shared), head);
    }
    for (uint64_t p = head; p < head + 512; ++p) {
      if (!check_insn(ref_->rmpupdate(p << 12, shared), rmpupdate(*m_.rmp, Hpa{p << 12}, shared), p,
                      /*compare_entries=*/false)) {
        return false;
      }
    }
    return compare_region(head);
  }

  // KVM sev_gmem_prepare with a 2M folio (PLATFORM-FACTS 4.9): invalidate, then one 2M
  // RMPUPDATE; sometimes immutable (firmware launch pages).
  bool op_prepare_2m() {
    if (!op_invalidate()) return false;
    const uint64_t head = std::strtoull(desc_ + std::strlen("invalidate region "), nullptr, 16);
    RmpStateView s;
    s.assigned = 1;
    s.pagesize = 1;
    s.asid = 1 + uint32_t(rng_.below(3));
    s.gpa = (head << 12) + (uint64_t{s.asid} << 32);
    s.immutable = rng_.chance(10);
    std::snprintf(desc_, sizeof desc_, "RMPUPDATE 2M prepare hpa 0x%" PRIx64 " asid %u i%u",
                  head << 12, s.asid, s.immutable);
    return check_insn(ref_->rmpupdate(head << 12, s), rmpupdate(*m_.rmp, Hpa{head << 12}, s), head);
  }

  bool step() {
    const uint64_t k = rng_.below(1000);
    if (k < 10) return op_reclaim();
    if (k < 25) return op_invalidate();
    if (k < 45) return op_prepare_2m();
    return step_single(k % 100);
  }

  bool step_single(uint64_t k) {
    if (k < 25) return op_rmpupdate();
    if (k < 33) return op_psmash();
    if (k < 53) return op_guest_insn(true);
    if (k < 68) return op_guest_insn(false);
    if (k < 86) return op_guest_access();
    if (k < 94) return op_host_access();
    if (k < 97) return op_rmpread();
    return op_in_use();
  }

  Layout layout_{};
  uint64_t seed_ = 0;
  Backing backing_ = Backing::kDirect;
  RmpMachine m_;
  std::optional<ReferenceRmp> ref_;
  Rng rng_{0};
  std::vector<uint64_t> regions_;
  uint64_t op_ = 0;
  char desc_[256] = "";
  std::map<std::string, uint64_t> outcomes_;
  std::vector<uint64_t> in_use_;
  std::vector<uint64_t> recent_ = std::vector<uint64_t>(32, 0);
  uint64_t recent_next_ = 0;  // outcome label -> count
};

TEST_P(CrossCheck, RandomSequenceMatchesReferenceModel) {
  for (op_ = 0; op_ < kOpsPerRun; ++op_) {
    if (!step()) return;
    if (op_ % kFullCompareEvery == 0 && !compare_all()) return;
  }
  ASSERT_TRUE(compare_all());
  // The generator must reach every outcome of every instruction, else the comparison proves
  // little. Labels: mnemonic + return code, or fault kind + its RMP-related error bits.
  for (const auto& [label, n] : outcomes_) std::printf("  %-40s %8" PRIu64 "\n", label.c_str(), n);
  for (const char* must : {"RMPUPDATE SUCCESS", "RMPUPDATE FAIL_INPUT", "RMPUPDATE FAIL_PERMISSION",
                           "RMPUPDATE FAIL_INUSE", "RMPUPDATE FAIL_OVERLAP", "PSMASH SUCCESS",
                           "PSMASH FAIL_INPUT", "PSMASH FAIL_PERMISSION", "PVALIDATE SUCCESS",
                           "PVALIDATE SUCCESS CF=1", "PVALIDATE FAIL_INPUT",
                           "PVALIDATE FAIL_PERMISSION", "PVALIDATE FAIL_SIZEMISMATCH",
                           "RMPADJUST SUCCESS", "RMPADJUST FAIL_INPUT", "RMPADJUST FAIL_PERMISSION",
                           "RMPADJUST FAIL_SIZEMISMATCH", "#NPF 0x80000001",
                           "#NPF 0x480000001", "#NPF 0xc80000001", "#NPF 0x1480000001", "#VC 0x0",
                           "#PF 0x80000001", "access allowed"}) {
    EXPECT_GT(outcomes_[must], 0u) << "seed 0x" << std::hex << seed_ << ": outcome '" << must
                                   << "' never reached";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, CrossCheck,
    ::testing::Combine(::testing::Values(Layout::kContiguous, Layout::kSegmented),
                       ::testing::Values(0x5eed0001u, 0x5eed0002u, 0x5eed0003u, 0x5eed0004u),
                       ::testing::Values(Backing::kDirect)));
// lookup() off its fast path (tables Memory could not back) must give the same answers.
INSTANTIATE_TEST_SUITE_P(
    TouchedFirst, CrossCheck,
    ::testing::Combine(::testing::Values(Layout::kContiguous, Layout::kSegmented),
                       ::testing::Values(0x5eed0005u, 0x5eed0006u),
                       ::testing::Values(Backing::kTouchedFirst)));

}  // namespace
}  // namespace snpemu::rmp::testing
