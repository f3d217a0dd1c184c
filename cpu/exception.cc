// cpu/exception.cc: delivery of exceptions and interrupts through the 64-bit IDT, with IST
// stacks, #DF escalation and triple-fault shutdown. APM vol 2, 8.4-8.9 and 8.2.9 (#DF).
#include <array>
#include <cstring>
#include <optional>

#include "cpu/cpu.h"
#include "cpu/insn/exec.h"
#include "cpu/svm/svm.h"

namespace snpemu::cpu {
namespace {

// Contributory exceptions. APM vol 2, 8.2.9 Table 8-7.
bool contributory(Vector v) {
  return v == Vector::kDe || v == Vector::kTs || v == Vector::kNp || v == Vector::kSs ||
         v == Vector::kGp;
}

// One delivery attempt: a nested fault, a bus error, or success.
struct Attempt {
  enum class Kind : uint8_t { kDone, kNested, kBusError } kind = Kind::kDone;
  Fault nested{};
  uint64_t address = 0;
};

Attempt nested(Fault f) { return Attempt{Attempt::Kind::kNested, f, 0}; }

class Deliverer {
 public:
  Deliverer(Core& core, ArchState& s) : core_(core), s_(s) {}

  // IDT, GDT and TSS reads are implicit supervisor accesses (translated when CR0.PG = 1).
  std::optional<Attempt> read(uint64_t a, void* out, size_t n) {
    uint64_t bus_error = kNoBusError;
    auto r = core_.read_linear(a, std::span(static_cast<uint8_t*>(out), n),
                               LinearAccess{mmu::AccessKind::kRead, true}, &bus_error);
    if (r) return std::nullopt;
    if (bus_error != kNoBusError) return Attempt{Attempt::Kind::kBusError, {}, bus_error};
    return nested(r.error());
  }
  // Frame pushes go to the new (supervisor) stack; a non-canonical stack is #SS(0).
  std::optional<Attempt> write(uint64_t a, uint64_t v) {
    std::array<uint8_t, 8> b;
    std::memcpy(b.data(), &v, 8);
    uint64_t bus_error = kNoBusError;
    auto r = core_.write_linear(a, b, LinearAccess{mmu::AccessKind::kWrite, true}, &bus_error);
    if (r) return std::nullopt;
    if (bus_error != kNoBusError) return Attempt{Attempt::Kind::kBusError, {}, bus_error};
    return nested(r.error().vector == Vector::kGp ? ss(0) : r.error());
  }

  Attempt deliver(const Fault& f, bool software, uint64_t return_rip) {
    const unsigned vec = static_cast<unsigned>(f.vector);
    // CR2 is loaded when the page fault is recognised, before its delivery starts, so it holds
    // the address even if the delivery itself faults or is intercepted (an NPF on the handler's
    // stack: the hypervisor re-injects the #PF from EXITINTINFO and CR2 must still be right).
    // APM vol 2, 8.4.2. UNCONFIRMED: the ordering against delivery faults is inferred.
    if (f.vector == Vector::kPf && !software) s_.cr2 = f.cr2;
    const uint32_t ext = software ? 0 : 1;                // EXT bit of the error code
    const uint32_t idt_err = vec * 8 + 2 + ext;           // IDT bit set. APM vol 2, 8.4.1
    if (vec * 16 + 15 > s_.idtr.limit) return nested(gp(idt_err));
    uint64_t gate[2];
    if (auto a = read(s_.idtr.base + vec * 16, gate, 16)) return *a;
    const unsigned type = (gate[0] >> 40) & 0xF;
    if (type != 0xE && type != 0xF) return nested(gp(idt_err));
    if (software && ((gate[0] >> 45) & 3) < s_.cpl) return nested(gp(idt_err));
    if (!((gate[0] >> 47) & 1)) return nested(Fault{Vector::kNp, true, idt_err, 0});
    const uint64_t target = (gate[0] & 0xFFFF) | (((gate[0] >> 48) & 0xFFFF) << 16) |
                            ((gate[1] & 0xFFFFFFFF) << 32);
    const uint16_t sel = static_cast<uint16_t>(gate[0] >> 16);
    const unsigned ist = (gate[0] >> 32) & 7;
    if ((sel & 0xFFFC) == 0 || (sel & 4) || (sel & 0xFFF8) + 7u > s_.gdtr.limit) {
      return nested(gp((sel & 0xFFFC) + ext));
    }
    uint64_t cs_desc;
    if (auto a = read(s_.gdtr.base + (sel & 0xFFF8), &cs_desc, 8)) return *a;
    const uint16_t attrib = descriptor_attrib(cs_desc);
    const bool is_code = ((cs_desc >> 43) & 1) && ((cs_desc >> 44) & 1);
    if (!is_code || !(attrib & Segment::kLong)) return nested(gp((sel & 0xFFFC) + ext));
    if (!(attrib & Segment::kPresent)) return nested(Fault{Vector::kNp, true, (sel & 0xFFFCu) + ext, 0});
    const unsigned new_cpl = (cs_desc >> 45) & 3;
    if (new_cpl > s_.cpl) return nested(gp((sel & 0xFFFC) + ext));
    if (!is_canonical(target)) return nested(gp(ext));
    // Stack: IST entry, else RSPn of the TSS on a privilege change. APM vol 2, 8.9.4 / 12.2.5.
    uint64_t rsp = s_.gpr[kRsp];
    if (ist != 0 || new_cpl < s_.cpl) {
      const uint64_t off = ist != 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
      if (off + 7 > s_.tr.limit) return nested(Fault{Vector::kTs, true, (s_.tr.selector & 0xFFFCu) + ext, 0});
      if (auto a = read(s_.tr.base + off, &rsp, 8)) return *a;
    }
    rsp &= ~uint64_t{0xF};
    const uint64_t frame[6] = {f.error_code, return_rip, s_.seg[kCs].selector, s_.rflags,
                               s_.gpr[kRsp], s_.seg[kSs].selector};
    const bool with_error = f.has_error_code;
    const unsigned words = with_error ? 6 : 5;
    const uint64_t base = rsp - 8 * words;
    for (unsigned i = 0; i < words; ++i) {
      if (auto a = write(base + 8 * i, frame[with_error ? i : i + 1])) return *a;
    }
    if (new_cpl != s_.cpl) s_.seg[kSs] = Segment{static_cast<uint16_t>(new_cpl), 0, 0, 0};
    s_.seg[kCs] = Segment{sel, attrib, 0xFFFFFFFF, 0};
    s_.cpl = static_cast<uint8_t>(new_cpl);
    s_.gpr[kRsp] = base;
    s_.rip = target;
    s_.rflags &= ~(flag::kTf | flag::kNt | flag::kRf | flag::kVm);
    if (type == 0xE) s_.rflags &= ~flag::kIf;  // interrupt gate
    return Attempt{};
  }

 private:
  Core& core_;
  ArchState& s_;
};

}  // namespace

namespace {

// The EXITINTINFO / EVENTINJ image of an event being delivered. APM vol 2, 15.7.2 / 15.20.
svm::Event event_of(const Fault& f, bool software, bool external) {
  using svm::EventType;
  const auto v = static_cast<uint8_t>(f.vector);
  if (external) return svm::make_event(EventType::kIntr, v);
  if (software && f.vector != Vector::kBp && f.vector != Vector::kOf) {
    return svm::make_event(EventType::kSoftInt, v);
  }
  if (f.vector == Vector::kNmi) return svm::make_event(EventType::kNmi, v);
  return svm::make_event(EventType::kException, v,
                         f.has_error_code ? std::optional<uint32_t>(f.error_code) : std::nullopt);
}

}  // namespace

Core::Delivery Core::deliver(Fault fault, bool software, uint64_t return_rip, bool external) {
  Deliverer d(*this, state_);
  for (;;) {
    charge(Cost::kIntDelivery);
    const Attempt a = d.deliver(fault, software, return_rip);
    if (a.kind == Attempt::Kind::kDone) return Delivery::kDelivered;
    if (a.kind == Attempt::Kind::kBusError) {
      stop_.address = a.address;
      return Delivery::kBusError;
    }
    const Fault& n = a.nested;
    stop_.fault = n;
    // Guest mode: a fault raised while delivering an event exits if it is a nested page fault or
    // an intercepted exception, with the event in EXITINTINFO. APM vol 2, 15.7.2.
    if (guest_active_) {
      if (auto r = guest_fault_exit(n, false, event_of(fault, software, external))) {
        return *r == StopReason::kVmexit ? Delivery::kVmexit : Delivery::kBusError;
      }
    }
    if (fault.vector == Vector::kDf) return Delivery::kShutdown;  // triple fault
    const bool df = (contributory(fault.vector) && contributory(n.vector)) ||
                    (fault.vector == Vector::kPf && (contributory(n.vector) || n.vector == Vector::kPf));
    fault = df ? Fault{Vector::kDf, true, 0, 0} : n;
    software = false;
    external = false;
    return_rip = state_.rip;  // a fault during delivery returns to the instruction itself
    // An escalated #DF is itself subject to the exception intercept. UNCONFIRMED: EXITINTINFO
    // for an intercepted #DF (left clear here).
    if (df && guest_active_) {
      if (auto r = guest_fault_exit(fault, false, std::nullopt)) {
        return *r == StopReason::kVmexit ? Delivery::kVmexit : Delivery::kBusError;
      }
    }
  }
}

}  // namespace snpemu::cpu
