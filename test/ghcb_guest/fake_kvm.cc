// test/ghcb_guest/fake_kvm.cc: the fake KVM behind the ghcb/guest native hooks (see fake_kvm.h).
// Host rules follow PLATFORM-FACTS 1.x (MSR protocol), 2.x (GHCB), 3.3 (PSC), 9.2 (AP creation),
// each applied through the //ghcb codec that implements it.
#include "test/ghcb_guest/fake_kvm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <type_traits>
#include <variant>

#include "ghcb/guest/ghcb_guest.h"

namespace snpemu::test {
namespace {

thread_local FakeKvm* g_current = nullptr;  // set only by FakeKvm::Scope

FakeKvm& current() {
  if (g_current == nullptr) {
    std::fprintf(stderr, "ghcb_native_* hook called without a FakeKvm::Scope\n");
    std::abort();
  }
  return *g_current;
}

std::span<std::byte, ghcb::kGhcbPageSize> page_at(uint64_t gpa) {
  return std::span<std::byte, ghcb::kGhcbPageSize>(reinterpret_cast<std::byte*>(gpa),
                                                   ghcb::kGhcbPageSize);
}

constexpr uint64_t kPagesPer2M = 512;

}  // namespace

FakeKvm::FakeKvm(FakeKvmOptions opts) : opts_(opts), ap_hold_left_(opts.ap_hold_spurious) {
  // KVM preloads the GHCB MSR with the SEV_INFO response at vCPU reset (PLATFORM-FACTS 1.3).
  ghcb_msr_ =
      ghcb::encode_msr_response(ghcb::SevInfoResponse{opts_.hv_max, opts_.hv_min, opts_.c_bit});
}

FakeKvm::Scope::Scope(FakeKvm& kvm) : prev_(g_current) { g_current = &kvm; }
FakeKvm::Scope::~Scope() { g_current = prev_; }

void FakeKvm::set_private(uint64_t gpa, uint64_t npages, bool validated, bool rmp_2m) {
  for (uint64_t i = 0; i < npages; ++i) pages_[(gpa >> 12) + i] = {true, validated, rmp_2m};
}

FakePage FakeKvm::page(uint64_t gpa) const {
  auto it = pages_.find(gpa >> 12);
  return it == pages_.end() ? FakePage{} : it->second;
}

uint32_t FakeKvm::cpuid_value(uint32_t fn, uint32_t subfn, unsigned r) {
  return 0xA5000000u ^ (fn * 16u) ^ (subfn << 8) ^ r;
}

uint64_t FakeKvm::rdmsr(uint32_t msr) {
  if (msr == GHCB_MSR_GHCB) return ghcb_msr_;
  if (msr == GHCB_MSR_SEV_STATUS) return opts_.sev_status;
  error("RDMSR " + hex(msr) + " would raise #VC (only the GHCB MSR and SEV_STATUS are direct)");
  return 0;
}

void FakeKvm::wrmsr(uint32_t msr, uint64_t value) {
  if (msr == GHCB_MSR_GHCB) {
    ghcb_msr_ = value;
    return;
  }
  error("WRMSR " + hex(msr) + " would raise #VC");
}

void FakeKvm::vmgexit() {
  // MSR protocol when GHCBInfo != 0, else the value is the GHCB GPA (PLATFORM-FACTS 1.1).
  if ((ghcb_msr_ & ghcb::kMsrInfoMask) != 0) {
    handle_msr_protocol(ghcb_msr_);
  } else {
    handle_ghcb(ghcb_msr_);
  }
}

void FakeKvm::handle_msr_protocol(uint64_t msr) {
  auto req = ghcb::decode_msr_request(msr);
  if (!req) return;  // unknown code: KVM leaves the MSR unchanged
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, ghcb::SevInfoRequest>) {
          const uint64_t v = ghcb::encode_msr_response(
              ghcb::SevInfoResponse{opts_.hv_max, opts_.hv_min, opts_.c_bit});
          ghcb_msr_ = (v & ~ghcb::kMsrInfoMask) | opts_.sev_info_code;
        } else if constexpr (std::is_same_v<T, ghcb::CpuidRequest>) {
          const auto reg = static_cast<unsigned>(r.reg);
          events_.push_back("cpuid_msr fn=" + hex(r.function) + " reg=" + std::to_string(reg));
          ghcb_msr_ = ghcb::kvm_cpuid_msr_response(msr, cpuid_value(r.function, 0, reg));
        } else if constexpr (std::is_same_v<T, ghcb::ApResetHoldRequest>) {
          const uint64_t result = ap_hold_left_ > 0 ? 0 : 1;
          if (ap_hold_left_ > 0) --ap_hold_left_;
          events_.push_back("ap_reset_hold_msr result=" + std::to_string(result));
          ghcb_msr_ = ghcb::encode_msr_response(ghcb::ApResetHoldResponse{result});
        } else if constexpr (std::is_same_v<T, ghcb::PrefGpaRequest>) {
          ghcb_msr_ = ghcb::encode_msr_response(ghcb::PrefGpaResponse{});
        } else if constexpr (std::is_same_v<T, ghcb::RegGpaRequest>) {
          registered_gpa_ = r.gfn << 12;
          events_.push_back("reg_gpa gfn=" + hex(r.gfn));
          ghcb_msr_ =
              ghcb::encode_msr_response(ghcb::RegGpaResponse{opts_.reg_gpa_echo.value_or(r.gfn)});
        } else if constexpr (std::is_same_v<T, ghcb::PscMsrRequest>) {
          events_.push_back("psc_msr gpa=" + hex(r.gfn << 12) +
                            " op=" + std::to_string(r.operation));
          if (!ghcb::psc_msr_operation_supported(r)) {
            ghcb_msr_ = ghcb::kMsrPscRespError;
            return;
          }
          const uint64_t ret = map_gpa_range(r.gfn << 12, 1, r.operation == 1, false);
          ghcb_msr_ = ret == 0 ? ghcb::encode_msr_response(ghcb::PscMsrResponse{0})
                               : ghcb::kMsrPscRespError;
        } else if constexpr (std::is_same_v<T, ghcb::HvFeaturesRequest>) {
          events_.push_back("hv_ft_msr");
          ghcb_msr_ = ghcb::encode_msr_response(ghcb::HvFeaturesResponse{opts_.hv_features});
        } else if constexpr (std::is_same_v<T, ghcb::TermRequest>) {
          term_ = r;
          events_.push_back("term_msr set=" + std::to_string(r.reason_set) +
                            " code=" + std::to_string(r.reason_code));
        } else {
          error("unexpected MSR protocol request " + hex(msr));
        }
      },
      *req);
}

uint64_t FakeKvm::map_gpa_range(uint64_t gpa, uint64_t npages, bool to_private, bool size_2m) {
  events_.push_back(std::string("map_gpa_range gpa=") + hex(gpa) +
                    " npages=" + std::to_string(npages) + (to_private ? " private" : " shared"));
  if (opts_.psc_fail_gpa && *opts_.psc_fail_gpa >= gpa && *opts_.psc_fail_gpa < gpa + npages * 4096)
    return 1;  // the VMM refuses (any non-zero hypercall result)
  for (uint64_t i = 0; i < npages; ++i) {
    FakePage& p = pages_[(gpa >> 12) + i];
    if (!to_private && p.validated) {
      error("page " + hex(gpa + i * 4096) + " converted to shared while still validated " +
            "(guest must rescind first)");
    }
    // Eager RMP model: private pages become assigned (not validated) at PSC time.
    p = FakePage{to_private, false, to_private && size_2m && !opts_.rmp_4k_only};
  }
  return 0;
}

int FakeKvm::pvalidate(uint64_t va, unsigned page_size, unsigned validate, int* cf) {
  *cf = 0;
  const bool is_2m = page_size == GHCB_PAGE_2M;
  events_.push_back(std::string("pvalidate gpa=") + hex(va) + (is_2m ? " 2M " : " 4K ") +
                    (validate ? "validate" : "rescind"));
  if (is_2m && (va & ((kPagesPer2M << 12) - 1)) != 0) return GHCB_PVALIDATE_FAIL_INPUT;
  const uint64_t first = va >> 12;
  const uint64_t count = is_2m ? kPagesPer2M : 1;
  for (uint64_t i = 0; i < count; ++i) {
    const FakePage p = page((first + i) << 12);
    if (!p.is_private) {
      // Hardware: #NPF (RMP) for a page not assigned to the guest (PLATFORM-FACTS 4.5).
      error("PVALIDATE of shared page " + hex((first + i) << 12));
      return GHCB_PVALIDATE_FAIL_INPUT;
    }
    if (is_2m && !p.rmp_2m) return GHCB_PVALIDATE_FAIL_SIZEMISMATCH;
  }
  if (!is_2m && page(va).rmp_2m) {
    // 4K PVALIDATE in a 2M RMP entry: #NPF(SIZEM); KVM PSMASHes and the guest retries.
    ++psmashes_;
    const uint64_t base = first & ~(kPagesPer2M - 1);
    for (uint64_t i = 0; i < kPagesPer2M; ++i) pages_[base + i].rmp_2m = false;
  }
  bool all_same = true;
  for (uint64_t i = 0; i < count; ++i)
    all_same &= page((first + i) << 12).validated == (validate != 0);
  if (all_same) {
    *cf = 1;  // no update (PLATFORM-FACTS 4.5)
    return 0;
  }
  for (uint64_t i = 0; i < count; ++i) pages_[first + i].validated = validate != 0;
  return 0;
}

int FakeKvm::rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs) {
  events_.push_back("rmpadjust gpa=" + hex(va) + " size=" + std::to_string(page_size) +
                    " attrs=" + hex(attrs));
  return page(va).is_private && page(va).validated ? 0 : 1;
}

void FakeKvm::handle_ghcb(uint64_t gpa) {
  if (gpa == 0) return;  // KVM: GHCB GPA 0 -> resume, nothing done (PLATFORM-FACTS 2.6)
  if (opts_.snp && registered_gpa_ != gpa) {
    // KVM_RUN returns -EINVAL; the guest gets no answer (PLATFORM-FACTS 1.6).
    error("GHCB call with unregistered GHCB " + hex(gpa));
    return;
  }
  auto page_bytes = page_at(gpa);
  const ghcb::GhcbSnapshot snap = ghcb::GhcbSnapshot::take(page_bytes);
  ghcb::clear_valid_bitmap(page_bytes);
  if (auto ok = ghcb::validate_vmgexit(snap, ghcb::VmgexitContext{opts_.snp}); !ok) {
    error("KVM rejects the GHCB: " + std::string(ok.error().what));
    ghcb::write_ghcb_response(page_bytes, ghcb::response_for_error(ok.error()));
    return;
  }
  const ghcb::VmgexitInputs in = ghcb::kvm_sync_from_ghcb(snap);
  last_protocol_version_ = in.protocol_version;
  ghcb::GhcbResponse resp{0, 0, in.rax, in.rbx, in.rcx, in.rdx};
  if (opts_.inject_vector) {
    resp = ghcb::exception_response(*opts_.inject_vector, opts_.inject_error_code, resp);
    opts_.inject_vector.reset();
    ghcb::write_ghcb_response(page_bytes, resp);
    return;
  }
  switch (static_cast<ghcb::NaeExitCode>(in.sw_exit_code)) {
    case ghcb::NaeExitCode::kCpuid: {
      last_xcr0_ = in.xcr0;
      const auto fn = static_cast<uint32_t>(in.rax), sub = static_cast<uint32_t>(in.rcx);
      resp.rax = cpuid_value(fn, sub, 0);
      resp.rbx = cpuid_value(fn, sub, 1);
      resp.rcx = cpuid_value(fn, sub, 2);
      resp.rdx = cpuid_value(fn, sub, 3);
      break;
    }
    case ghcb::NaeExitCode::kIoio: {
      const auto port = static_cast<uint16_t>(in.sw_exit_info_1 >> 16);
      const unsigned size = (in.sw_exit_info_1 >> 4) & 7;  // 1, 2 or 4 (one-hot bits 6:4)
      if (in.sw_exit_info_1 & 1) {
        resp.rax = 0x5A5A5A5Au & (size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1);
      } else if (port == GHCB_CONSOLE_PORT && size == 1) {
        console_.push_back(static_cast<char>(in.rax));
      } else if (port == GHCB_EXIT_PORT) {
        exit_value_ = static_cast<uint32_t>(in.rax);
      }
      events_.push_back("ioio port=" + hex(port) + " info1=" + hex(in.sw_exit_info_1));
      break;
    }
    case ghcb::NaeExitCode::kMsr:
      if (in.sw_exit_info_1 == 0) {
        const uint64_t v = msrs_[static_cast<uint32_t>(in.rcx)];
        resp.rax = static_cast<uint32_t>(v);
        resp.rdx = v >> 32;
      } else {
        msrs_[static_cast<uint32_t>(in.rcx)] = (in.rdx << 32) | static_cast<uint32_t>(in.rax);
      }
      break;
    case ghcb::NaeExitCode::kRdtsc:
    case ghcb::NaeExitCode::kRdtscp:
      resp.rax = static_cast<uint32_t>(opts_.tsc);
      resp.rdx = opts_.tsc >> 32;
      if (in.sw_exit_code == static_cast<uint64_t>(ghcb::NaeExitCode::kRdtscp))
        resp.rcx = opts_.tsc_aux;
      break;
    case ghcb::NaeExitCode::kVmmcall:
      last_vmmcall_ = {in.rax, in.rbx, in.rcx, in.rdx, in.rsi, in.cpl};
      resp.rax = in.rax + 1;
      break;
    case ghcb::NaeExitCode::kHvFeatures:
      resp.sw_exit_info_2 = opts_.hv_features;
      break;
    case ghcb::NaeExitCode::kTermRequest:
      term_ = ghcb::decode_nae_term(in.sw_exit_info_1);
      events_.push_back("term_nae set=" + std::to_string(term_->reason_set) +
                        " code=" + std::to_string(term_->reason_code));
      return;  // exit to userspace; no answer
    case ghcb::NaeExitCode::kApHltLoop:
      resp.sw_exit_info_2 = ap_hold_left_ > 0 ? 0 : 1;
      if (ap_hold_left_ > 0) --ap_hold_left_;
      events_.push_back("ap_hlt_loop info2=" + std::to_string(resp.sw_exit_info_2));
      break;
    case ghcb::NaeExitCode::kApJumpTable:
      // Per-VM value; set = 0, get = 1, anything else malformed input (current KVM).
      if (in.sw_exit_info_1 == 0) {
        ap_jump_table_ = in.sw_exit_info_2;
      } else if (in.sw_exit_info_1 == 1) {
        resp.sw_exit_info_2 = ap_jump_table_;
      } else {
        resp = ghcb::response_for_error(
            ghcb::malformed(ghcb::GhcbErrorCode::kInvalidInput, "AP jump table sub-op"), resp);
      }
      break;
    case ghcb::NaeExitCode::kApCreation:
      resp = handle_ap_creation(in);
      break;
    case ghcb::NaeExitCode::kPsc:
      resp = handle_psc(gpa, in, snap);
      break;
    case ghcb::NaeExitCode::kGuestRequest: {
      // KVM copies both pages through bounce pages: they must be shared (PLATFORM-FACTS 2.6).
      for (uint64_t p : {in.sw_exit_info_1, in.sw_exit_info_2}) {
        if (page(p).is_private) error("GUEST_REQUEST page " + hex(p) + " is private");
      }
      events_.push_back("guest_request req=" + hex(in.sw_exit_info_1) +
                        " rsp=" + hex(in.sw_exit_info_2));
      if (!opts_.guest_request) {
        error("GUEST_REQUEST without a FakeKvmOptions::guest_request handler");
        break;
      }
      resp.sw_exit_info_2 = opts_.guest_request(in.sw_exit_info_1, in.sw_exit_info_2);
      break;
    }
    default:
      error("fake KVM has no handler for " + std::string(ghcb::nae_exit_name(in.sw_exit_code)));
      break;
  }
  ghcb::write_ghcb_response(page_bytes, resp);
}

ghcb::GhcbResponse FakeKvm::handle_ap_creation(const ghcb::VmgexitInputs& in) {
  ApCreation c;
  c.request = static_cast<uint32_t>(in.sw_exit_info_1 & 0xFFFF);
  c.vmpl = static_cast<uint32_t>((in.sw_exit_info_1 >> 16) & 0xFFFF);
  c.apic_id = static_cast<uint32_t>(in.sw_exit_info_1 >> 32);
  c.vmsa_gpa = in.sw_exit_info_2;
  c.sev_features = in.rax;
  // KVM sev_snp_ap_creation (PLATFORM-FACTS 9.2): whole low 32 bits are the request; target
  // exists; CREATE*: RAX == VM SEV features, VMSA GPA page aligned and not 2 MiB aligned.
  const auto low = static_cast<uint32_t>(in.sw_exit_info_1);
  bool ok = c.apic_id < opts_.vcpus && low <= 2;
  if (ok && low != static_cast<uint32_t>(ghcb::ApCreationRequest::kDestroy)) {
    ok = in.rax == opts_.vmsa_features && (c.vmsa_gpa & 0xFFF) == 0 &&
         (c.vmsa_gpa & ((kPagesPer2M << 12) - 1)) != 0;
  }
  c.accepted = ok;
  ap_creations_.push_back(c);
  ghcb::GhcbResponse resp{0, 0, in.rax, in.rbx, in.rcx, in.rdx};
  if (!ok) {
    resp = ghcb::response_for_error(
        ghcb::malformed(ghcb::GhcbErrorCode::kInvalidInput, "AP creation refused"), resp);
  }
  return resp;
}

ghcb::GhcbResponse FakeKvm::handle_psc(uint64_t gpa, const ghcb::VmgexitInputs& in,
                                       const ghcb::GhcbSnapshot& snap) {
  ghcb::GhcbResponse resp{0, 0, in.rax, in.rbx, in.rcx, in.rdx};
  ++psc_calls_;
  auto area = ghcb::check_scratch_area(gpa, in.sw_scratch, in.sw_exit_info_2);
  if (!area) {
    error("PSC scratch refused: " + std::string(area.error().what));
    return ghcb::response_for_error(area.error(), resp);
  }
  auto desc = ghcb::parse_psc_desc(ghcb::scratch_bytes_in_ghcb(snap, *area));
  if (!desc) {
    error("PSC descriptor refused: " + std::string(desc.error().what));
    return ghcb::response_for_error(desc.error(), resp);
  }
  events_.push_back("psc_call cur=" + std::to_string(desc->hdr.cur_entry) +
                    " end=" + std::to_string(desc->hdr.end_entry));
  ghcb::PscScan scan = ghcb::psc_scan_begin(*desc);
  ghcb::PscStep step = ghcb::psc_scan_next(scan);
  unsigned batches = 0;
  while (!step.done() && batches < opts_.psc_batches_per_call) {
    psc_batches_.push_back(*step.batch);
    const uint64_t ret = map_gpa_range(step.batch->gpa, step.batch->npages, step.batch->to_private,
                                       step.batch->page_size_2m);
    ++batches;
    step = ghcb::psc_scan_complete(scan, ret);
  }
  // Early return (a batch still pending) answers success with the progress so far.
  const ghcb::PscStatus status = step.done() ? step.status : ghcb::PscStatus::kSuccess;
  switch (opts_.psc_tamper) {
    case FakeKvmOptions::Tamper::kNone:
      break;
    case FakeKvmOptions::Tamper::kGrowEnd:
      ++scan.desc.hdr.end_entry;
      break;
    case FakeKvmOptions::Tamper::kRewindCur:
      // Below where this call started (possible once the guest has made progress).
      if (desc->hdr.cur_entry > 0) scan.desc.hdr.cur_entry = desc->hdr.cur_entry - 1;
      break;
    case FakeKvmOptions::Tamper::kSetReserved:
      scan.desc.hdr.reserved = 1;
      break;
    case FakeKvmOptions::Tamper::kRewriteGfn: {
      ghcb::PscEntry e = scan.desc.entry(0);
      e.gfn += 0x1000;
      scan.desc.entries[0] = e.encode();
      break;
    }
  }
  auto page_bytes = page_at(gpa);
  ghcb::psc_write_back(scan.desc, std::span<std::byte>(page_bytes.data() + area->ghcb_offset,
                                                       ghcb::kGhcbPageSize - area->ghcb_offset));
  resp.sw_exit_info_2 = static_cast<uint64_t>(status);
  return resp;
}

namespace {

// OUT DX / IN DX encodings of each size (APM vol 3 "IN", "OUT"): 66-prefixed for 16 bits.
std::vector<uint8_t> io_dx_bytes(bool in, unsigned size) {
  const uint8_t op = static_cast<uint8_t>((in ? 0xEC : 0xEE) | (size == 1 ? 0 : 1));
  if (size == 2) return {0x66, op};
  return {op};
}

}  // namespace

void FakeKvm::out(uint16_t port, unsigned size, uint32_t value) {
  if (vc_ctx_ == nullptr) {
    error("OUT to " + hex(port) + " without a #VC context");
    return;
  }
  const std::vector<uint8_t> bytes = io_dx_bytes(false, size);
  ghcb_vc_frame f{};
  f.rax = value;
  f.rdx = port;
  f.error_code = GHCB_EXIT_IOIO;
  f.rip = reinterpret_cast<uint64_t>(bytes.data());
  if (ghcb_vc_handle(vc_ctx_, &f) == GHCB_OK && f.rip != reinterpret_cast<uint64_t>(bytes.data()) + bytes.size())
    error("#VC for OUT did not advance RIP by " + std::to_string(bytes.size()));
}

uint32_t FakeKvm::in(uint16_t port, unsigned size) {
  if (vc_ctx_ == nullptr) {
    error("IN from " + hex(port) + " without a #VC context");
    return 0;
  }
  const std::vector<uint8_t> bytes = io_dx_bytes(true, size);
  ghcb_vc_frame f{};
  f.rdx = port;
  f.error_code = GHCB_EXIT_IOIO;
  f.rip = reinterpret_cast<uint64_t>(bytes.data());
  (void)ghcb_vc_handle(vc_ctx_, &f);
  return static_cast<uint32_t>(f.rax);
}

void FakeKvm::cpuid(uint32_t fn, uint32_t subfn, uint32_t out[4]) {
  if (vc_ctx_ == nullptr) {
    error("CPUID " + hex(fn) + " without a #VC context");
    return;
  }
  static constexpr uint8_t kCpuid[15] = {0x0F, 0xA2};
  ghcb_vc_frame f{};
  f.rax = fn;
  f.rcx = subfn;
  f.error_code = GHCB_EXIT_CPUID;
  f.rip = reinterpret_cast<uint64_t>(kCpuid);
  if (ghcb_vc_handle(vc_ctx_, &f) == GHCB_OK && f.rip != reinterpret_cast<uint64_t>(kCpuid) + 2)
    error("#VC for CPUID did not advance RIP by 2");
  out[0] = static_cast<uint32_t>(f.rax);
  out[1] = static_cast<uint32_t>(f.rbx);
  out[2] = static_cast<uint32_t>(f.rcx);
  out[3] = static_cast<uint32_t>(f.rdx);
}

}  // namespace snpemu::test

// The ghcb/guest native hooks.
extern "C" {
uint64_t ghcb_native_rdmsr(uint32_t msr) { return snpemu::test::current().rdmsr(msr); }
void ghcb_native_wrmsr(uint32_t msr, uint64_t value) { snpemu::test::current().wrmsr(msr, value); }
void ghcb_native_vmgexit(void) { snpemu::test::current().vmgexit(); }
int ghcb_native_pvalidate(uint64_t va, unsigned page_size, unsigned validate, int* cf) {
  return snpemu::test::current().pvalidate(va, page_size, validate, cf);
}
int ghcb_native_rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs) {
  return snpemu::test::current().rmpadjust(va, page_size, attrs);
}
void ghcb_native_halt(void) { snpemu::test::current().halt(); }
void ghcb_native_out(uint16_t port, unsigned size, uint32_t value) {
  snpemu::test::current().out(port, size, value);
}
uint32_t ghcb_native_in(uint16_t port, unsigned size) {
  return snpemu::test::current().in(port, size);
}
void ghcb_native_cpuid(uint32_t fn, uint32_t subfn, uint32_t out[4]) {
  snpemu::test::current().cpuid(fn, subfn, out);
}
uint64_t ghcb_native_read_cr3(void) { return snpemu::test::current().read_cr3(); }
void ghcb_native_write_cr3(uint64_t v) { snpemu::test::current().write_cr3(v); }
}
