// emu/kvm/costs.cc: the timing-table row each exit-handler path charges (see cpu/timing/zen4.cc
// for the numbers and their sources).
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {

cpu::Cost cost_of(hv::ExitPath path) {
  using P = hv::ExitPath;
  using cpu::Cost;
  switch (path) {
    case P::kCpuid: return Cost::kHvCpuid;
    case P::kMsrRead: case P::kMsrWrite: case P::kMsrInjectGp: return Cost::kHvMsr;
    case P::kIoKernel: case P::kIoStringKernel: return Cost::kHvPio;
    case P::kNpfMap: return Cost::kHvNpfMap;
    case P::kHypercall: return Cost::kHvHypercall;
    case P::kGhcbStringIoKernel: return Cost::kHvPio;
    default: return Cost::kHvSimple;
  }
}

}  // namespace snpemu::kvm
