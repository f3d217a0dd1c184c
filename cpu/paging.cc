// cpu/paging.cc: linear-address translation through mmu/ (walk + TLB), with page-table entries
// read through the core's bus, and the TLB maintenance the APM requires (vol 2, 5.5).
#include <algorithm>
#include <array>

#include "cpu/cpu.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

// Page-table entries through the bus; counts entry reads so walks are charged.
class BusTableAccess final : public mmu::TableAccess {
 public:
  explicit BusTableAccess(CpuBus& bus) : bus_(bus) {}
  std::expected<uint64_t, mmu::Fault> read_entry(uint64_t pa) override {
    ++reads;
    uint64_t v = 0;
    if (!bus_.read(pa, std::span(reinterpret_cast<uint8_t*>(&v), 8))) {
      return std::unexpected(mmu::Fault{mmu::Fault::Kind::kBadTableAddress, 0, pa});
    }
    return v;
  }
  std::expected<void, mmu::Fault> set_bits(uint64_t pa, uint64_t bits) override {
    auto v = read_entry(pa);
    if (!v) return std::unexpected(v.error());
    const uint64_t nv = *v | bits;
    if (!bus_.write(pa, std::span(reinterpret_cast<const uint8_t*>(&nv), 8))) {
      return std::unexpected(mmu::Fault{mmu::Fault::Kind::kBadTableAddress, 0, pa});
    }
    return {};
  }
  uint64_t reads = 0;

 private:
  CpuBus& bus_;
};

// An SEV guest's own page-table entries: private memory, decrypted and encrypted with the
// guest's key at their host-physical address (APM vol 2, 15.34.5: guest table walks are always
// private). Reads are counted by the underlying bus access.
class PrivateTableAccess final : public mmu::TableAccess {
 public:
  PrivateTableAccess(BusTableAccess& raw, CpuBus& bus, const Core& core)
      : raw_(raw), bus_(bus), core_(core) {}
  std::expected<uint64_t, mmu::Fault> read_entry(uint64_t pa) override {
    auto v = raw_.read_entry(pa);
    if (!v) return v;
    uint64_t x = *v;
    core_.crypt(pa, std::span(reinterpret_cast<uint8_t*>(&x), 8));
    return x;
  }
  std::expected<void, mmu::Fault> set_bits(uint64_t pa, uint64_t bits) override {
    auto v = read_entry(pa);
    if (!v) return std::unexpected(v.error());
    uint64_t nv = *v | bits;
    core_.crypt(pa, std::span(reinterpret_cast<uint8_t*>(&nv), 8));
    if (!bus_.write(pa, std::span(reinterpret_cast<const uint8_t*>(&nv), 8))) {
      return std::unexpected(mmu::Fault{mmu::Fault::Kind::kBadTableAddress, 0, pa});
    }
    return {};
  }

 private:
  BusTableAccess& raw_;
  CpuBus& bus_;
  const Core& core_;
};

mmu::PagingRegs paging_regs(const ArchState& s) {
  return mmu::PagingRegs{s.cr0, s.cr3, s.cr4, s.efer, s.rflags, 0};
}

}  // namespace

namespace {

rmp::AccessType rmp_type(mmu::AccessKind k) {
  switch (k) {
    case mmu::AccessKind::kRead: return rmp::AccessType::kRead;
    case mmu::AccessKind::kWrite: return rmp::AccessType::kWrite;
    case mmu::AccessKind::kFetch: return rmp::AccessType::kExecute;
  }
  return rmp::AccessType::kRead;
}

rmp::MappingSize rmp_mapping(mmu::PageSize s) {
  switch (s) {
    case mmu::PageSize::k4K: return rmp::MappingSize::k4K;
    case mmu::PageSize::k2M: return rmp::MappingSize::k2M;
    case mmu::PageSize::k1G: return rmp::MappingSize::k1G;
  }
  return rmp::MappingSize::k4K;
}

// The RMP checks of a guest's own table walk (SNP: the tables are private memory). Each entry
// access is checked after its NPT translation; APM vol 2, 15.36.10. The NPF carries GUEST_PAGE
// (the rmp module sets it for page_table_walk accesses).
class RmpEntryCheck final : public mmu::EntryAccessCheck {
 public:
  RmpEntryCheck(const rmp::Rmp& rmp, const GuestMode& g) : rmp_(rmp), g_(g) {}
  std::optional<mmu::Fault> check(uint64_t entry_gpa, const mmu::Translation& nested, bool write) override {
    ++checks;
    rmp::GuestAccess a;
    a.ctx = rmp::GuestContext{g_.asid, g_.vmpl};
    a.gpa = Gpa{entry_gpa};
    a.hpa = Hpa{nested.pa};
    a.type = write ? rmp::AccessType::kWrite : rmp::AccessType::kRead;
    a.user = false;  // table walks are supervisor accesses. UNCONFIRMED for the VMPL rule
    a.c_bit = g_.snp;
    a.mapping = rmp_mapping(nested.size);
    a.page_table_walk = true;
    const rmp::AccessResult r = rmp::check_guest_access(rmp_, a);
    if (!r.fault) return std::nullopt;
    if (r.fault->kind == rmp::Fault::Kind::kVc) {
      return mmu::Fault{mmu::Fault::Kind::kVmmCommunication, r.fault->error_code, r.fault->address};
    }
    return mmu::Fault{mmu::Fault::Kind::kNestedPageFault, r.fault->error_code, r.fault->address};
  }
  uint64_t checks = 0;

 private:
  const rmp::Rmp& rmp_;
  const GuestMode& g_;
};

}  // namespace

// Host accesses made by code on this core (not the C++ hypervisor model, which checks its own):
// a write to an assigned page faults with the RMP bit in the #PF error code. PLATFORM-FACTS 4.7.
std::optional<Fault> Core::host_rmp_check(const mmu::Translation& t, LinearAccess access, uint64_t linear) {
  if (config_.rmp == nullptr || access.kind != mmu::AccessKind::kWrite) return std::nullopt;
  rmp::HostAccess h;
  h.hpa = Hpa{t.pa};
  h.type = rmp::AccessType::kWrite;
  h.user = state_.cpl == 3 && !access.implicit_supervisor;
  h.mapping = rmp_mapping(t.size);
  const rmp::AccessResult r = rmp::check_host_access(*config_.rmp, h);
  if (!r.fault) return std::nullopt;
  return Fault{Vector::kPf, true, static_cast<uint32_t>(r.fault->error_code), linear};
}

Fault Core::rmp_fault(const rmp::Fault& f) {
  if (f.kind == rmp::Fault::Kind::kVc) return Fault{Vector::kVc, true, static_cast<uint32_t>(f.error_code), 0};
  npf_info1_ = f.error_code;
  npf_gpa_ = f.address;
  return Fault{Vector::kNestedPageFault, false, 0, 0};
}

// Guest mode with nested paging and guest paging on: the TLB's translation of `linear` if it
// allows the access (what mmu::translate would return for it, without a walk), else false. A
// miss or a refused hit takes translate_walk(), which looks up again, as mmu::translate does
// for every call: the TLB's statistics and replacement see the same lookups either way.
bool Core::guest_tlb_hit(uint64_t linear, const mmu::Access& a, mmu::Translation& out) {
  const mmu::PagingRegs regs = paging_regs(state_);
  const std::optional<mmu::Translation> e = tlb_.lookup(guest_.asid, mmu::Tlb::pcid_of(regs), linear);
  if (!e) return false;
  const bool needs_dirty = a.kind == mmu::AccessKind::kWrite && !e->dirty;
  if (needs_dirty || mmu::check_rights(*e, regs, config_.paging, a) != 0) return false;
  out = *e;
  return true;
}

// The rest of a guest access after its translation `t` (a TLB hit, or a walk that read page-table
// entries when `walked`): private or shared, and the RMP check of the access itself.
std::optional<Fault> Core::guest_access_checks(const mmu::Translation& t, mmu::AccessKind kind, bool user,
                                               bool walked, bool rmp_check) {
  // Private or shared: the leaf's C-bit, except that fetches and every access with guest paging
  // off are private in an SEV guest. APM vol 2, 15.34.5.
  last_enc_ = t.encrypted || kind == mmu::AccessKind::kFetch || !(state_.cr0 & ctl::kCr0Pg);
  if (config_.rmp == nullptr || !rmp_check) return std::nullopt;
  // The RMP check of the access itself, on every access (the model does not cache its result in
  // the TLB; it charges it only when the translation was filled by a walk).
  rmp::GuestAccess ra;
  ra.ctx = rmp::GuestContext{guest_.asid, guest_.vmpl};
  ra.gpa = Gpa{t.gpa};
  ra.hpa = Hpa{t.pa};
  ra.type = rmp_type(kind);
  ra.user = user;
  // Only an SNP guest makes private accesses in the RMP's sense; every other guest's accesses
  // are checked as shared (its pages must not be guest-owned).
  ra.c_bit = guest_.snp && last_enc_;
  ra.mapping = rmp_mapping(t.nested_size);
  if (walked) charge(Cost::kRmpCheck);
  const rmp::AccessResult r = rmp::check_guest_access(*config_.rmp, ra);
  if (r.fault) return rmp_fault(*r.fault);
  return std::nullopt;
}

std::expected<uint64_t, Fault> Core::translate(uint64_t linear, LinearAccess access, uint64_t* bus_error) {
  if (!nested_ && !(state_.cr0 & ctl::kCr0Pg) && config_.rmp == nullptr) {
    if (!is_canonical(linear)) return std::unexpected(gp(0));
    return linear;
  }
  // The common case of a guest with paging on, a TLB hit, without building the whole result.
  if (nested_ && (state_.cr0 & ctl::kCr0Pg) && is_canonical(linear)) {
    const mmu::Access a{access.kind, state_.cpl, access.implicit_supervisor};
    mmu::Translation hit;
    if (guest_tlb_hit(linear, a, hit)) {
      if (auto f = guest_access_checks(hit, access.kind, a.is_user(), false, true)) return std::unexpected(*f);
      return hit.pa;
    }
    auto t = translate_walk(linear, access, a, bus_error, true);
    if (!t) return std::unexpected(t.error());
    return t->pa;
  }
  auto t = translate_full(linear, access, bus_error);
  if (!t) return std::unexpected(t.error());
  return t->pa;
}

std::expected<mmu::Translation, Fault> Core::translate_full(uint64_t linear, LinearAccess access,
                                                            uint64_t* bus_error, bool rmp_check) {
  if (!is_canonical(linear)) return std::unexpected(gp(0));
  if (!nested_ && !(state_.cr0 & ctl::kCr0Pg)) {
    mmu::Translation flat;
    flat.pa = linear;
    flat.writable = flat.user = flat.executable = true;
    if (auto f = host_rmp_check(flat, access, linear)) return std::unexpected(*f);
    return flat;
  }
  const mmu::Access a{access.kind, state_.cpl, access.implicit_supervisor};
  // Guest with paging on: a TLB hit whose rights allow the access needs none of the 2-D walk
  // machinery of translate_walk().
  if (nested_ && (state_.cr0 & ctl::kCr0Pg)) {
    mmu::Translation hit;
    if (guest_tlb_hit(linear, a, hit)) {
      if (auto f = guest_access_checks(hit, access.kind, a.is_user(), false, rmp_check)) return std::unexpected(*f);
      return hit;
    }
  }
  return translate_walk(linear, access, a, bus_error, rmp_check);
}

std::expected<mmu::Translation, Fault> Core::translate_walk(uint64_t linear, LinearAccess access,
                                                            const mmu::Access& a, uint64_t* bus_error,
                                                            bool rmp_check) {
  BusTableAccess tables(bus_);
  std::expected<mmu::Translation, mmu::Fault> t;
  const bool rmp_on = guest_active_ && config_.rmp != nullptr;
  uint64_t entry_checks = 0;
  if (!nested_) {
    t = mmu::translate(tlb_, tables, paging_regs(state_), config_.paging, current_asid(), linear, a);
  } else {
    // SVM nested paging: every guest-physical address, the guest's table entries included, is
    // translated through the NPT at nested_cr3 (the 2-D walk). APM vol 2, 15.25.
    const mmu::NestedRegs nregs{guest_.nested_cr3, false, guest_.host_nxe};
    PrivateTableAccess private_tables(tables, bus_, *this);
    mmu::NestedTableAccess guest_tables(tables, sev_crypt_ ? static_cast<mmu::TableAccess&>(private_tables) : tables,
                                        nregs, config_.paging);
    std::optional<RmpEntryCheck> entry_check;
    if (rmp_on) {
      entry_check.emplace(*config_.rmp, guest_);
      guest_tables.set_entry_check(&*entry_check);
    }
    const mmu::NestedPaging paging = guest_tables.paging();
    if (state_.cr0 & ctl::kCr0Pg) {
      t = mmu::translate(tlb_, guest_tables, paging_regs(state_), config_.paging, guest_.asid,
                         linear, a, &paging);
    } else {
      // Guest paging off: the linear address is the GPA (no TLB entry is made for it).
      t = mmu::nested_walk(tables, nregs, config_.paging, linear, access.kind,
                           mmu::NestedStage::kGuestFinal);
      if (t) {
        t->gpa = linear;
        t->nested_size = t->size;
      }
    }
    if (entry_check) entry_checks = entry_check->checks;
  }
  const bool walked = tables.reads != 0;
  for (uint64_t i = 0; i < tables.reads; ++i) charge(Cost::kWalkStep);
  for (uint64_t i = 0; i < entry_checks; ++i) charge(Cost::kRmpCheck);
  if (t) {
    if (!guest_active_) {
      last_enc_ = t->encrypted || access.kind == mmu::AccessKind::kFetch || !(state_.cr0 & ctl::kCr0Pg);
      if (auto hf = host_rmp_check(*t, access, linear)) return std::unexpected(*hf);
      return *t;
    }
    if (auto f = guest_access_checks(*t, access.kind, a.is_user(), walked, rmp_on && rmp_check)) {
      return std::unexpected(*f);
    }
    return *t;
  }
  const mmu::Fault& f = t.error();
  switch (f.kind) {
    case mmu::Fault::Kind::kPageFault:
      return std::unexpected(Fault{Vector::kPf, true, static_cast<uint32_t>(f.error_code), f.address});
    case mmu::Fault::Kind::kNonCanonical:
      return std::unexpected(gp(0));
    case mmu::Fault::Kind::kNestedPageFault:
      npf_info1_ = f.error_code;
      // ENC (PLATFORM-FACTS 4.8): in an SEV guest, guest table walks, fetches and accesses with
      // guest paging off are private whatever the C-bit says (APM vol 2, 15.34.5); the MMU sets
      // ENC for a final access through a C-bit leaf.
      if (guest_active_ && guest_.sev &&
          ((f.error_code & mmu::kNpfGuestPage) != 0 || access.kind == mmu::AccessKind::kFetch ||
           !(state_.cr0 & ctl::kCr0Pg))) {
        npf_info1_ |= mmu::kNpfEnc;
      }
      if (!guest_.sev) npf_info1_ &= ~mmu::kNpfEnc;  // no C-bit outside SEV guests
      npf_gpa_ = f.address;
      return std::unexpected(Fault{Vector::kNestedPageFault, false, 0, 0});
    case mmu::Fault::Kind::kVmmCommunication:
      return std::unexpected(Fault{Vector::kVc, true, static_cast<uint32_t>(f.error_code), 0});
    case mmu::Fault::Kind::kBadTableAddress:
      *bus_error = f.address;
      return std::unexpected(Fault{Vector::kMc, false, 0, 0});
  }
  return std::unexpected(gp(0));
}

namespace {

template <class Span, class Op>
std::expected<void, Fault> split_pages(Core& core, uint64_t linear, Span bytes, LinearAccess access,
                                       uint64_t* bus_error, Op op) {
  size_t done = 0;
  while (done < bytes.size()) {
    const uint64_t at = linear + done;
    const size_t chunk = std::min<size_t>(bytes.size() - done, kPageSize - (at & kPageOffsetMask));
    auto pa = core.translate(at, access, bus_error);
    if (!pa) return std::unexpected(pa.error());
    if (!op(*pa, bytes.subspan(done, chunk))) {
      *bus_error = *pa;
      return std::unexpected(Fault{Vector::kMc, false, 0, 0});
    }
    done += chunk;
  }
  return {};
}

}  // namespace

std::expected<void, Fault> Core::read_linear(uint64_t linear, std::span<uint8_t> out, LinearAccess access,
                                             uint64_t* bus_error) {
  return split_pages(*this, linear, out, access, bus_error, [&](uint64_t pa, std::span<uint8_t> part) {
    if (!bus_.read(pa, part)) return false;
    if (last_access_encrypted()) crypt(pa, part);
    return true;
  });
}

std::expected<void, Fault> Core::write_linear(uint64_t linear, std::span<const uint8_t> in,
                                              LinearAccess access, uint64_t* bus_error) {
  // Translate every page first so a fault on the second page writes nothing.
  size_t done = 0;
  while (done < in.size()) {
    const uint64_t at = linear + done;
    const size_t chunk = std::min<size_t>(in.size() - done, kPageSize - (at & kPageOffsetMask));
    auto pa = translate(at, access, bus_error);
    if (!pa) return std::unexpected(pa.error());
    done += chunk;
  }
  return split_pages(*this, linear, in, access, bus_error, [&](uint64_t pa, std::span<const uint8_t> part) {
    if (!last_access_encrypted()) return bus_.write(pa, part);
    std::array<uint8_t, 64> chunk;  // encrypt a copy, in pieces
    for (size_t at = 0; at < part.size(); at += chunk.size()) {
      const size_t n = std::min(chunk.size(), part.size() - at);
      std::copy_n(part.begin() + at, n, chunk.begin());
      crypt(pa + at, std::span(chunk.data(), n));
      if (!bus_.write(pa + at, std::span<const uint8_t>(chunk.data(), n))) return false;
    }
    return true;
  });
}

void Core::paging_changed(uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer) {
  const ArchState& s = state_;
  if (((old_cr0 ^ s.cr0) & ctl::kCr0Pg) || ((old_cr4 ^ s.cr4) & mmu::kCr4FlushAllMask) ||
      ((old_efer ^ s.efer) & ctl::kEferNxe)) {
    tlb_.flush_all();
  }
}

void Core::flush_cr3() {
  const mmu::PagingRegs r = paging_regs(state_);
  // CR4.PCIDE with CR3 bit 63 set: no flush. APM vol 2, 5.5.1.
  if ((state_.cr4 & mmu::kCr4Pcide) && (state_.cr3 >> 63)) return;
  tlb_.flush_non_global(current_asid(), mmu::Tlb::pcid_of(r));
}

void Core::flush_page(uint64_t linear) {
  tlb_.flush_page(current_asid(), mmu::Tlb::pcid_of(paging_regs(state_)), linear);
}

}  // namespace snpemu::cpu
