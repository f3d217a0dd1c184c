// test/ghcb_guest/guest_fixture.h: a vCPU for native ghcb/guest tests: a fake KVM installed as
// the hook target, a page-aligned GHCB buffer and a library context pointing at it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ghcb/guest/ghcb_guest.h"
#include "test/ghcb_guest/fake_kvm.h"

namespace snpemu::test {

struct alignas(4096) AlignedGhcb {
  struct ghcb page{};
};

class GuestTest : public ::testing::Test {
 protected:
  GuestTest() : ghcb_(std::make_unique<AlignedGhcb>()), scope_(kvm_) {
    ghcb_ctx_init(&ctx_, &ghcb_->page, 0, 0);
  }
  uint64_t ghcb_gpa() const { return reinterpret_cast<uint64_t>(&ghcb_->page); }
  /// Negotiates (v2) and registers the GHCB, as an SNP guest does before any GHCB call.
  void set_up_ghcb() {
    ASSERT_EQ(ghcb_msr_sev_setup(&ctx_, 1), GHCB_OK);
    ASSERT_EQ(ghcb_msr_register_ghcb(&ctx_, ghcb_gpa()), GHCB_OK);
  }
  /// Messages: the fake's host-side complaints, if any.
  std::string errors() const {
    std::string s;
    for (const auto& e : kvm_.errors()) s += e + "\n";
    return s;
  }
  /// "set/code" of the termination the fake saw, "none" otherwise.
  std::string termination() const {
    if (!kvm_.termination()) return "none";
    return std::to_string(kvm_.termination()->reason_set) + "/" +
           std::to_string(kvm_.termination()->reason_code);
  }
  size_t count_events(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& e : kvm_.events()) n += e.rfind(prefix, 0) == 0;
    return n;
  }

  FakeKvm kvm_;
  std::unique_ptr<AlignedGhcb> ghcb_;
  FakeKvm::Scope scope_;
  struct ghcb_ctx ctx_ {};
};

}  // namespace snpemu::test
