// test/kvm/host_fixture.h: a host for the KVM-facade tests -- an SNP-enabled machine with 512 MiB
// of RAM and memory encryption, the hypervisor on it (SNP_INIT and the legacy INIT done), and
// VMs of 16 MiB created through KVM's API.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "emu/kvm/kvm.h"

namespace snpemu::kvm::test {

inline constexpr uint64_t kGuestMem = uint64_t{16} << 20;

struct Host {
  std::unique_ptr<Machine> machine;
  std::unique_ptr<Hypervisor> hyp;
  explicit Host(uint32_t cores = 2) {
    MachineConfig c;
    c.mem_bytes = uint64_t{512} << 20;
    c.cores = cores;
    machine = std::move(*Machine::create(c));
    auto h = Hypervisor::create(*machine);
    if (!h) ADD_FAILURE() << h.error().describe();
    hyp = std::move(*h);
  }
  /// KVM_CREATE_VM of `type` with kGuestMem and `vcpus`; null (and a test failure) if refused.
  std::unique_ptr<VirtualMachine> vm(hv::VmType type, uint32_t vcpus = 1) {
    VmSpec s;
    s.type = type;
    s.memory_bytes = kGuestMem;
    s.vcpus = vcpus;
    auto v = hyp->create_vm(s);
    if (!v) {
      ADD_FAILURE() << v.error().describe();
      return nullptr;
    }
    return std::move(*v);
  }
};

}  // namespace snpemu::kvm::test
