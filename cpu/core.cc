// cpu/core.cc: the fetch / decode / execute loop and the stop reasons.
#include <algorithm>
#include <array>
#include <optional>

#include "cpu/cpu.h"
#include "base/types.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {

Core::Core(CpuBus& bus, CoreConfig config) : bus_(bus), config_(std::move(config)) {}

StopReason Core::run(uint64_t budget_cycles) {
  const uint64_t end = cycles_ + budget_cycles;
  while (cycles_ < end) {
    const StopReason r = step();
    if (r != StopReason::kBudget) return r;
  }
  return stop(StopReason::kBudget);
}

StopReason Core::raise_fault(Fault fault, bool software, uint64_t return_rip) {
  if (config_.stop_on_fault) {
    stop_.fault = fault;
    return stop(StopReason::kFault);
  }
  switch (deliver(fault, software, return_rip)) {
    case Delivery::kDelivered: return StopReason::kBudget;
    case Delivery::kBusError: return stop(StopReason::kBusError);
    case Delivery::kShutdown:
      shutdown_ = true;
      return stop(StopReason::kShutdown);
  }
  return StopReason::kBudget;
}

StopReason Core::step() {
  if (shutdown_) return stop(StopReason::kShutdown);
  if (!in_64bit_mode(state_)) return stop(StopReason::kUnsupportedMode);
  ArchState& s = state_;
  const bool shadow = s.interrupt_shadow;
  s.interrupt_shadow = false;
  if (has_pending_irq_ && !shadow && (s.rflags & flag::kIf)) {
    has_pending_irq_ = false;
    return raise_fault(Fault{static_cast<Vector>(pending_irq_), false, 0, 0}, false, s.rip);
  }
  // Fetch up to 15 bytes: the rest of this page, then (if present) the start of the next one.
  std::array<uint8_t, kMaxInsnLength> buf{};
  size_t got = std::min<size_t>(kMaxInsnLength, kPageSize - (s.rip & kPageOffsetMask));
  uint64_t bus_error = kNoBusError;
  const LinearAccess fetch{mmu::AccessKind::kFetch, false};
  if (auto r = read_linear(s.rip, std::span(buf.data(), got), fetch, &bus_error); !r) {
    if (bus_error != kNoBusError) {
      stop_.address = bus_error;
      return stop(StopReason::kBusError);
    }
    return raise_fault(r.error(), false, s.rip);
  }
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
  const OpcodeRow& row = *d.row;
  if ((row.flags & row::kCpl0) && s.cpl != 0) return raise_fault(gp(0), false, s.rip);
  const Handler h = handlers()[static_cast<size_t>(row.id)];
  if (h == nullptr) {
    stop_.insn = row.id;
    return stop(StopReason::kUnimplemented);
  }
  const bool single_step = s.rflags & flag::kTf;
  Exec x(*this, d, s.rip + d.length);
  if (d.mem) x.compute_ea();
  const Outcome o = h(x);
  charge(row.cost);
  if (d.mem) charge(Cost::kL1Load);
  if (d.lock || ((row.id == InsnId::XCHG_EbGb || row.id == InsnId::XCHG_EvGv) && d.mem)) {
    charge(Cost::kLocked);  // XCHG with memory is implicitly locked. APM vol 3, XCHG
  }
  switch (o.kind) {
    case Outcome::Kind::kNext:
      break;
    case Outcome::Kind::kFault:
      return raise_fault(o.fault, false, s.rip);
    case Outcome::Kind::kSoftwareInt:
      ++instructions_;
      return raise_fault(o.fault, true, x.next_rip);
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
      stop_.insn = row.id;
      return stop(StopReason::kUnimplemented);
  }
  ++instructions_;
  s.rip = x.next_rip;
  // Single-step trap after the instruction. APM vol 2, 13.1.4 (DR6.BS not modelled yet).
  if (single_step) return raise_fault(Fault{Vector::kDb, false, 0, 0}, false, s.rip);
  return StopReason::kBudget;
}

}  // namespace snpemu::cpu
