// cpu/core.cc: the fetch / decode / execute loop and the stop reasons. Fetch goes through the
// predecode cache (cpu/predecode.h) when CoreConfig::predecode_cache is set; both paths perform
// the same translations and charge the same cycles.
#include <algorithm>
#include <array>
#include <optional>

#include "cpu/cpu.h"
#include "base/types.h"
#include "cpu/insn/exec.h"
#include "cpu/predecode.h"

namespace snpemu::cpu {

Core::Core(CpuBus& bus, CoreConfig config) : bus_(bus), config_(std::move(config)) {
  if (config_.predecode_cache) predecode_ = std::make_unique<PredecodeCache>();
}

Core::~Core() = default;

StopReason Core::run(uint64_t budget_cycles) {
  code_pfn_ = data_pfn_ = ~uint64_t{0};  // page pointers are valid inside one call only
  const uint64_t end = cycles_ + budget_cycles;
  if (predecode_) return run_predecoded(end);
  while (cycles_ < end) {
    const StopReason r = step_one();
    if (r != StopReason::kBudget) return r;
  }
  return stop(StopReason::kBudget);
}

StopReason Core::step() {
  code_pfn_ = data_pfn_ = ~uint64_t{0};
  return step_one();
}

StopReason Core::raise_fault(Fault fault, bool software, uint64_t return_rip, bool external) {
  if (guest_active_) {
    if (auto r = guest_fault_exit(fault, software, std::nullopt)) return *r;
  }
  if (config_.stop_on_fault) {
    stop_.fault = fault;
    return stop(StopReason::kFault);
  }
  switch (deliver(fault, software, return_rip, external)) {
    case Delivery::kDelivered: return StopReason::kBudget;
    case Delivery::kBusError: return stop(StopReason::kBusError);
    case Delivery::kVmexit: return stop(StopReason::kVmexit);
    case Delivery::kShutdown:
      // Shutdown in guest mode exits when intercepted (KVM always intercepts it). APM vol 2,
      // 15.12 (SHUTDOWN intercept).
      if (guest_active_ && guest_.is_intercepted(svm::Intercept::kShutdown)) {
        if (!vmexit(svm::to_u64(svm::ExitCode::kShutdown), 0, 0, state_.rip)) {
          return stop(StopReason::kBusError);
        }
        return stop(StopReason::kVmexit);
      }
      shutdown_ = true;
      return stop(StopReason::kShutdown);
  }
  return StopReason::kBudget;
}

const uint8_t* Core::code_page_pointer(uint64_t pfn) {
  if (pfn != code_pfn_) {
    code_page_ = bus_.readable_page(pfn);
    code_pfn_ = pfn;
  }
  return code_page_;
}

bool Core::cached_bytes_match(const PredecodedInsn& e, uint64_t pa) {
  const uint64_t offset = pa & kPageOffsetMask;
  if (const uint8_t* page = code_page_pointer(pa >> 12)) return e.matches(page + offset, kPageSize - offset);
  std::array<uint8_t, 16> live{};
  if (!bus_.read(pa, std::span(live.data(), e.insn.length))) return false;
  return e.matches(live.data(), live.size());
}

StopReason Core::step_one() {
  if (shutdown_) return stop(StopReason::kShutdown);
  if (!in_64bit_mode(state_)) return stop(StopReason::kUnsupportedMode);
  ArchState& s = state_;
  const bool shadow = s.interrupt_shadow;
  s.interrupt_shadow = false;
  if (guest_active_) {
    if (auto r = guest_interrupt_check(shadow)) return *r;
  }
  if (has_pending_irq_ && !shadow && (s.rflags & flag::kIf) && s.gif) {
    has_pending_irq_ = false;
    return raise_fault(Fault{static_cast<Vector>(pending_irq_), false, 0, 0}, false, s.rip, true);
  }
  // Fetch up to 15 bytes: the rest of this page, then (if present) the start of the next one.
  const LinearAccess fetch{mmu::AccessKind::kFetch, false};
  uint64_t bus_error = kNoBusError;
  // CR0.PG = 0 without nested paging inline (what translate() does then), else the TLB and
  // the walk.
  const auto pa = !(s.cr0 & ctl::kCr0Pg) && !nested_ && is_canonical(s.rip)
                      ? std::expected<uint64_t, Fault>(s.rip)
                      : translate(s.rip, fetch, &bus_error);
  if (!pa) {
    if (bus_error != kNoBusError) {
      stop_.address = bus_error;
      return stop(StopReason::kBusError);
    }
    return raise_fault(pa.error(), false, s.rip);
  }
  return step_at(*pa);
}

// The rest of step_one() once RIP is translated to `pa`: the cache, else fetch and decode.
StopReason Core::step_at(uint64_t pa) {
  ArchState& s = state_;
  const LinearAccess fetch{mmu::AccessKind::kFetch, false};
  size_t got = std::min<size_t>(kMaxInsnLength, kPageSize - (s.rip & kPageOffsetMask));
  const uint64_t tag = fetch_tag();  // of the translation of RIP just made
  PredecodedInsn* entry = nullptr;
  if (predecode_) {
    entry = &predecode_->slot(pa);
    if (entry->pa == pa && entry->key_tag == tag) {
      if (cached_bytes_match(*entry, pa)) {
        ++predecode_stats_.hits;
        // The uncached path also translates the next page when fewer than 15 bytes remain in
        // this one; do the same so the TLB, A bits and walk cycles do not depend on the cache.
        if (got < kMaxInsnLength) {
          uint64_t ignored = kNoBusError;
          (void)translate(s.rip + got, fetch, &ignored);
        }
        return execute(entry->insn, entry);
      }
      ++predecode_stats_.modified;
    } else {
      ++predecode_stats_.misses;
    }
  }
  std::array<uint8_t, kMaxInsnLength> buf{};
  if (!bus_.read(pa, std::span(buf.data(), got))) {
    stop_.address = pa;
    return stop(StopReason::kBusError);
  }
  const std::array<uint8_t, kMaxInsnLength> raw = buf;  // what memory holds (ciphertext if private)
  if (tag != 0) crypt(pa, std::span(buf.data(), got));
  std::optional<Fault> next_page_fault;
  if (got < kMaxInsnLength) {
    uint64_t next_bus_error = kNoBusError;
    auto r = read_linear(s.rip + got, std::span(buf.data() + got, kMaxInsnLength - got), fetch, &next_bus_error);
    if (r) {
      got = kMaxInsnLength;
    } else if (next_bus_error == kNoBusError) {
      next_page_fault = r.error();  // raised only if the instruction needs those bytes
    }
  }
  auto decoded = decode64(std::span<const uint8_t>(buf.data(), got));
  if (!decoded) {
    switch (decoded.error()) {
      case DecodeError::kUndefined: return raise_fault(ud(), false, s.rip);
      case DecodeError::kTooLong: return raise_fault(gp(0), false, s.rip);
      case DecodeError::kTruncated:
        if (next_page_fault) return raise_fault(*next_page_fault, false, s.rip);
        stop_.address = s.rip + got;
        return stop(StopReason::kBusError);
    }
  }
  const DecodedInsn& d = *decoded;
  if (entry == nullptr || (pa & kPageOffsetMask) + d.length > kPageSize) return execute(d, nullptr);
  // Fill the slot (instructions that cross a page boundary stay uncached).
  entry->pa = pa;
  entry->key_tag = tag;
  entry->insn = d;
  entry->set_bytes(raw.data());
  entry->handler = specialised_handler(entry->insn);
  // Rows with a CPL check or an SVM intercept take execute(), which checks both.
  entry->inline_ok = entry->handler != nullptr && !(d.row->flags & row::kCpl0) && d.row->svm == Svm::kNone;
  const OpcodeRow& row = *d.row;
  const bool locked = d.lock || ((row.id == InsnId::XCHG_EbGb || row.id == InsnId::XCHG_EvGv) && d.mem);
  const TimingTable& t = *config_.timing;
  entry->fixed_cycles = t[static_cast<size_t>(row.cost)].cycles +
                        (d.mem ? t[static_cast<size_t>(Cost::kL1Load)].cycles : 0) +
                        (locked ? t[static_cast<size_t>(Cost::kLocked)].cycles : 0);
  return execute(entry->insn, entry);
}

StopReason Core::execute(const DecodedInsn& d, const PredecodedInsn* cached) {
  ArchState& s = state_;
  const OpcodeRow& row = *d.row;
  if ((row.flags & row::kCpl0) && s.cpl != 0) return raise_fault(gp(0), false, s.rip);
  // Instruction intercepts: after the CPL check, before execution. APM vol 2, 15.7.
  if (guest_active_ && row.svm != Svm::kNone) {
    if (auto e = instruction_intercept(d, s.rip + d.length)) {
      const bool from_insn = false;
      return take_intercept(*e, s.rip + d.length, from_insn);
    }
  }
  const Handler h = cached ? cached->handler : handlers()[static_cast<size_t>(row.id)];
  if (h == nullptr) {
    stop_.insn = row.id;
    return stop(StopReason::kUnimplemented);
  }
  const bool single_step = s.rflags & flag::kTf;
  Exec x(*this, d, s.rip + d.length);
  if (d.mem) x.compute_ea();
  const Outcome o = h(x);
  if (cached) {
    cycles_ += cached->fixed_cycles;
  } else {
    charge(row.cost);
    if (d.mem) charge(Cost::kL1Load);
    if (d.lock || ((row.id == InsnId::XCHG_EbGb || row.id == InsnId::XCHG_EvGv) && d.mem)) {
      charge(Cost::kLocked);  // XCHG with memory is implicitly locked. APM vol 3, XCHG
    }
  }
  return complete(o, x, single_step);
}

// After the handler ran and its cycles were charged: retire it or stop.
StopReason Core::complete(const Outcome& o, const Exec& x, bool single_step) {
  ArchState& s = state_;
  switch (o.kind) {
    case Outcome::Kind::kNext:
      break;
    case Outcome::Kind::kFault:
      return raise_fault(o.fault, false, s.rip);
    case Outcome::Kind::kSoftwareInt:
      ++instructions_;
      return raise_fault(o.fault, true, x.next_rip);
    case Outcome::Kind::kVmexit:
      // The handler performed a world switch (VMRUN that exited at once, or an SVM exit).
      ++instructions_;
      return stop(StopReason::kVmexit);
    case Outcome::Kind::kHalt:
      ++instructions_;
      s.rip = x.next_rip;
      return stop(StopReason::kHalt);
    case Outcome::Kind::kIoExit:
      ++instructions_;
      s.rip = x.next_rip;
      return stop(StopReason::kIoExit);
    case Outcome::Kind::kBusError:
      stop_.address = o.address;
      return stop(StopReason::kBusError);
    case Outcome::Kind::kUnimplemented:
      stop_.insn = x.d.row->id;
      return stop(StopReason::kUnimplemented);
  }
  ++instructions_;
  s.rip = x.next_rip;
  // Single-step trap after the instruction. APM vol 2, 13.1.4 (DR6.BS not modelled yet).
  if (single_step) return raise_fault(Fault{Vector::kDb, false, 0, 0}, false, s.rip);
  return StopReason::kBudget;
}

// run() with the predecode cache: the common case -- no pending event, no single-step, a
// cached instruction whose bytes are unchanged and whose page pointer is at hand -- runs inline
// here; anything else takes step_one() / step_at(), which do exactly what an uncached step does
// from the same point (no side effect happens here before that hand-over).
StopReason Core::run_predecoded(uint64_t end) {
  ArchState& s = state_;
  const LinearAccess fetch{mmu::AccessKind::kFetch, false};
  predecode_->allocate();
  while (cycles_ < end) {
    if (shutdown_ || has_pending_irq_ || s.interrupt_shadow || (s.rflags & flag::kTf) ||
        (guest_active_ && (guest_.int_ctl & svm::int_ctl::kVIrq)) || !in_64bit_mode(s)) {
      if (const StopReason r = step_one(); r != StopReason::kBudget) return r;
      continue;
    }
    uint64_t pa = s.rip;
    if ((s.cr0 & ctl::kCr0Pg) || nested_ || !is_canonical(pa)) {
      uint64_t bus_error = kNoBusError;
      const auto t = translate(s.rip, fetch, &bus_error);
      if (!t) {
        if (bus_error != kNoBusError) {
          stop_.address = bus_error;
          return stop(StopReason::kBusError);
        }
        if (const StopReason r = raise_fault(t.error(), false, s.rip); r != StopReason::kBudget) return r;
        continue;
      }
      pa = *t;
    }
    const uint64_t offset = pa & kPageOffsetMask;
    const PredecodedInsn* cached = &predecode_->allocated_slot(pa);
    // Fewer than 16 bytes left in the page: step_at() also translates the next page.
    if (cached->pa != pa || (pa >> 12) != code_pfn_ || code_page_ == nullptr || offset > kPageSize - 16 ||
        !cached->inline_ok || cached->key_tag != fetch_tag() || !cached->matches(code_page_ + offset, 16)) {
      if (const StopReason r = step_at(pa); r != StopReason::kBudget) return r;
      continue;
    }
    ++predecode_stats_.hits;
    Exec x(*this, cached->insn, s.rip + cached->insn.length);
    if (cached->insn.mem) x.compute_ea();
    const Outcome o = cached->handler(x);
    cycles_ += cached->fixed_cycles;
    if (o.kind == Outcome::Kind::kNext) [[likely]] {
      ++instructions_;
      s.rip = x.next_rip;
      continue;
    }
    if (const StopReason r = complete(o, x, false); r != StopReason::kBudget) return r;
  }
  return stop(StopReason::kBudget);
}

}  // namespace snpemu::cpu
