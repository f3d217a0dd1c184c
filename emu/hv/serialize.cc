// emu/hv/serialize.cc: symmetric serialize() of the VM memory state (STYLE rule 10).
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

// A collection size; reading refuses counts larger than the bytes left (each element takes at
// least one byte), so corrupt input cannot make a loader loop or allocate without bound.
bool io_count(Serializer& s, std::string_view field, uint64_t& n) {
  s.io(field, n);
  if (s.reading() && s.ok() && n > s.remaining()) {
    s.fail(field, "count " + std::to_string(n) + " exceeds the " + std::to_string(s.remaining()) +
                      " bytes left");
  }
  return s.ok();
}

}  // namespace

void MemoryAttributes::serialize(Serializer& s) {
  uint64_t n = runs_.size();
  if (!io_count(s, "attributes.runs", n)) return;
  if (s.writing()) {
    for (auto& [start, run] : runs_) {
      uint64_t st = start;
      s.io("attributes.start", st);
      s.io("attributes.end", run.end);
      s.io("attributes.attributes", run.attributes);
    }
    return;
  }
  std::map<uint64_t, Run> loaded;
  uint64_t prev_end = 0, prev_attrs = 0;
  for (uint64_t i = 0; i < n && s.ok(); ++i) {
    uint64_t start = 0;
    Run run{0, 0};
    s.io("attributes.start", start);
    s.io("attributes.end", run.end);
    s.io("attributes.attributes", run.attributes);
    if (!s.ok()) return;
    if (start >= run.end || run.attributes == 0 || (run.attributes & ~supported_) != 0 ||
        (i > 0 && (start < prev_end || (start == prev_end && run.attributes == prev_attrs)))) {
      s.fail("attributes.start", "run " + std::to_string(i) + " [" + std::to_string(start) + ", " +
                                     std::to_string(run.end) + ") attributes " +
                                     std::to_string(run.attributes) + " is not a valid next run");
      return;
    }
    prev_end = run.end;
    prev_attrs = run.attributes;
    loaded.emplace(start, run);
  }
  if (s.ok()) runs_ = std::move(loaded);
}

void PagePool::serialize(Serializer& s) {
  uint64_t first = first_.value, count = count_;
  s.io("pool.first", first);
  s.io("pool.count", count);
  if (s.reading() && s.ok() && (first != first_.value || count != count_)) {
    s.fail("pool.first", "pool region [" + std::to_string(first) + ", +" + std::to_string(count) +
                             ") differs from the configured one");
    return;
  }
  uint64_t next = next_;
  s.io("pool.next", next);
  if (s.reading() && s.ok() && next > count_) {
    s.fail("pool.next", "high-water mark " + std::to_string(next) + " beyond the pool");
    return;
  }
  uint64_t n = free_.size();
  if (!io_count(s, "pool.free", n)) return;
  if (s.writing()) {
    for (uint64_t off : free_) s.io("pool.free_offset", off);
    return;
  }
  std::set<uint64_t> loaded;
  for (uint64_t i = 0; i < n && s.ok(); ++i) {
    uint64_t off = 0;
    s.io("pool.free_offset", off);
    if (s.ok() && (off >= next || !loaded.insert(off).second)) {
      s.fail("pool.free_offset", "free offset " + std::to_string(off) + " invalid or repeated");
    }
  }
  if (!s.ok()) return;
  next_ = next;
  free_ = std::move(loaded);
}

void Vm::serialize(Serializer& s) {
  uint8_t type = static_cast<uint8_t>(type_);
  s.io("vm.type", type);
  if (s.reading() && s.ok() && type != static_cast<uint8_t>(type_)) {
    s.fail("vm.type", "snapshot of a " + std::to_string(type) + " VM restored into a " +
                          vm_type_name(type_) + " VM");
    return;
  }
  if (s.reading() && s.ok() && (memslots_.size() != 0 || !gmems_.empty())) {
    s.fail("vm.type", "restore needs a fresh Vm");
    return;
  }

  uint64_t ngmem = gmems_.size();
  if (!io_count(s, "vm.gmems", ngmem)) return;
  if (s.reading()) {
    for (uint64_t i = 0; i < ngmem; ++i) gmems_.push_back(std::make_unique<GuestMemfd>(0, 0));
  }
  for (auto& g : gmems_) {
    s.io("gmem.size", g->size_);
    s.io("gmem.flags", g->flags_);
    uint64_t nb = g->bindings_.size();
    if (!io_count(s, "gmem.bindings", nb)) return;
    if (s.writing()) {
      for (auto& [start, b] : g->bindings_) {
        uint64_t st = start;
        s.io("gmem.binding_start", st);
        s.io("gmem.binding_end", b.end);
        s.io("gmem.binding_slot", b.slot_id);
      }
    } else {
      for (uint64_t i = 0; i < nb && s.ok(); ++i) {
        uint64_t st = 0;
        GuestMemfd::Binding b{0, 0};
        s.io("gmem.binding_start", st);
        s.io("gmem.binding_end", b.end);
        s.io("gmem.binding_slot", b.slot_id);
        g->bindings_[st] = b;
      }
    }
    uint64_t np = g->pages_.size();
    if (!io_count(s, "gmem.pages", np)) return;
    if (s.writing()) {
      for (auto& [index, page] : g->pages_) {
        uint64_t ix = index;
        s.io("gmem.page_index", ix);
        s.io("gmem.page_pfn", page.pfn.value);
        s.io("gmem.page_prepared", page.prepared);
      }
    } else {
      for (uint64_t i = 0; i < np && s.ok(); ++i) {
        uint64_t ix = 0;
        GuestMemfd::Page page;
        s.io("gmem.page_index", ix);
        s.io("gmem.page_pfn", page.pfn.value);
        s.io("gmem.page_prepared", page.prepared);
        g->pages_[ix] = page;
      }
    }
  }

  std::vector<const Memslot*> slots = memslots_.all();
  uint64_t nslots = slots.size();
  if (!io_count(s, "vm.memslots", nslots)) return;
  for (uint64_t i = 0; i < nslots && s.ok(); ++i) {
    Memslot m = s.writing() ? *slots[i] : Memslot{};
    bool has_gmem = m.gmem.has_value();
    GmemBinding b = m.gmem.value_or(GmemBinding{});
    s.io("memslot.id", m.id);
    s.io("memslot.flags", m.flags);
    s.io("memslot.base_gfn", m.base_gfn.value);
    s.io("memslot.npages", m.npages);
    s.io("memslot.userspace_addr", m.userspace_addr);
    s.io("memslot.has_gmem", has_gmem);
    s.io("memslot.guest_memfd", b.guest_memfd);
    s.io("memslot.pgoff", b.pgoff);
    if (s.reading() && s.ok()) {
      if (has_gmem != ((m.flags & kKvmMemGuestMemfd) != 0)) {
        s.fail("memslot.has_gmem", "gmem binding disagrees with the slot flags");
        return;
      }
      if (has_gmem && (b.guest_memfd == 0 || b.guest_memfd > gmems_.size())) {
        s.fail("memslot.guest_memfd", "unknown guest_memfd " + std::to_string(b.guest_memfd));
        return;
      }
      if (m.npages == 0 || m.base_gfn.value + m.npages < m.base_gfn.value ||
          memslots_.by_id(m.id) != nullptr ||
          memslots_.overlaps(m.id, m.base_gfn, m.end_gfn())) {
        s.fail("memslot.id", "slot " + std::to_string(m.id) + " empty, repeated or overlapping");
        return;
      }
      if (has_gmem) m.gmem = b;
      memslots_.install(m);
    }
  }

  attributes_.serialize(s);
  shared_pool_.serialize(s);
  private_pool_.serialize(s);

  uint64_t nshared = shared_pages_.size();
  if (!io_count(s, "vm.shared_pages", nshared)) return;
  if (s.writing()) {
    for (auto& [hva, pfn] : shared_pages_) {
      uint64_t h = hva;
      s.io("shared.hva", h);
      s.io("shared.pfn", pfn.value);
    }
  } else {
    for (uint64_t i = 0; i < nshared && s.ok(); ++i) {
      uint64_t h = 0;
      Pfn pfn;
      s.io("shared.hva", h);
      s.io("shared.pfn", pfn.value);
      shared_pages_[h] = pfn;
    }
  }
  s.io("vm.mmu_invalidate_seq", mmu_invalidate_seq_);
  s.io("vm.synthetic_warned", synthetic_warning_.warned);
  s.io("vm.synthetic_count", synthetic_warning_.count);
  if (s.reading() && s.ok()) {
    if (auto ok = check_invariants(); !ok) s.fail("vm", ok.error().message);
  }
}

}  // namespace snpemu::hv
