// emu/hv/guest_access.cc: the hypervisor's view of guest memory for emulation: guest-physical
// reads and writes through the memslots' shared backing (kvm_vcpu_read_guest /
// kvm_vcpu_write_guest), and guest page tables read the same way for mmu::walk.
#include <algorithm>
#include <cstring>

#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

template <class Span, class Fn>
std::expected<void, GuestMemError> for_each_page(VmContext& vm, uint64_t gpa, Span span, bool write,
                                                 Fn&& fn) {
  uint64_t done = 0;
  while (done < span.size()) {
    const uint64_t a = gpa + done;
    if (a < gpa) return std::unexpected(GuestMemError::kNoSlot);  // wrapped
    const Gfn gfn{a >> kPageShift};
    // A hypervisor cannot read or write private memory (guest_memfd is not mapped, and for
    // encrypted VMs it would see ciphertext): KVM's emulator fails on it.
    if (vm.vm->mem_is_private(gfn)) return std::unexpected(GuestMemError::kPrivate);
    const Memslot* slot = vm.vm->memslots().find(gfn);
    if (slot == nullptr) return std::unexpected(GuestMemError::kNoSlot);
    const uint64_t off = a & kPageOffsetMask;
    const uint64_t n = std::min<uint64_t>(kPageSize - off, span.size() - done);
    std::optional<Pfn> pfn;
    if (write) {
      if ((slot->flags & kKvmMemReadonly) != 0) return std::unexpected(GuestMemError::kReadonly);
      auto page = vm.vm->shared_page(slot->hva_of(gfn));  // touching anonymous memory
      if (!page) return std::unexpected(GuestMemError::kNoBacking);
      pfn = *page;
    } else {
      pfn = vm.vm->shared_backing(gfn);  // absent: never touched, reads as zero
    }
    fn(pfn, off, done, n);
    done += n;
  }
  return {};
}

}  // namespace

const char* guest_mem_error_name(GuestMemError e) {
  switch (e) {
    case GuestMemError::kNoSlot:
      return "no memslot (MMIO)";
    case GuestMemError::kPrivate:
      return "private memory";
    case GuestMemError::kNoBacking:
      return "no backing page (shared pool exhausted)";
    case GuestMemError::kReadonly:
      return "read-only memslot";
  }
  return "?";
}

std::expected<void, GuestMemError> read_guest_phys(VmContext& vm, uint64_t gpa,
                                                   std::span<uint8_t> out) {
  return for_each_page(
      vm, gpa, out, false, [&](std::optional<Pfn> pfn, uint64_t off, uint64_t done, uint64_t n) {
        if (!pfn) {
          std::memset(out.data() + done, 0, n);
          return;
        }
        (void)vm.memory->read(Hpa{(pfn->value << kPageShift) + off}, out.subspan(done, n));
      });
}

std::expected<void, GuestMemError> write_guest_phys(VmContext& vm, uint64_t gpa,
                                                    std::span<const uint8_t> in) {
  return for_each_page(
      vm, gpa, in, true, [&](std::optional<Pfn> pfn, uint64_t off, uint64_t done, uint64_t n) {
        (void)vm.memory->write(Hpa{(pfn->value << kPageShift) + off}, in.subspan(done, n));
      });
}

std::expected<uint64_t, mmu::Fault> GuestTableAccess::read_entry(uint64_t entry_gpa) {
  uint64_t v = 0;
  auto r = read_guest_phys(vm_, entry_gpa, std::span(reinterpret_cast<uint8_t*>(&v), 8));
  if (!r) return std::unexpected(mmu::Fault{mmu::Fault::Kind::kBadTableAddress, 0, entry_gpa});
  return v;
}

std::expected<void, mmu::Fault> GuestTableAccess::set_bits(uint64_t entry_gpa, uint64_t bits) {
  auto v = read_entry(entry_gpa);
  if (!v) return std::unexpected(v.error());
  const uint64_t nv = *v | bits;
  auto r = write_guest_phys(vm_, entry_gpa, std::span(reinterpret_cast<const uint8_t*>(&nv), 8));
  if (!r) return std::unexpected(mmu::Fault{mmu::Fault::Kind::kBadTableAddress, 0, entry_gpa});
  return {};
}

mmu::PagingRegs guest_paging_regs(const svm::Vmcb& vmcb) {
  return mmu::PagingRegs{.cr0 = vmcb.save.cr0,
                         .cr3 = vmcb.save.cr3,
                         .cr4 = vmcb.save.cr4,
                         .efer = vmcb.save.efer,
                         .rflags = vmcb.save.rflags,
                         .pkru = 0};
}

}  // namespace snpemu::hv::internal
