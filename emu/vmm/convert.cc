// emu/vmm/convert.cc: the exits that ask the VMM to convert memory; the conversion itself is
// hv::convert_memory / hv::map_gpa_range (emu/hv/convert.h).
#include "emu/vmm/vmm.h"

namespace snpemu::vmm {

ConvertResult handle_map_gpa_range(hv::Vm& vm, KvmRunHypercall& run, hv::RmpUpdateTiming timing) {
  ConvertResult r;
  if (run.nr != hv::kKvmHcMapGpaRange) {
    r.status = ConvertStatus::kNotMapGpaRange;
    r.ret = hv::kConvertErrorRet;
    r.message = "hypercall nr " + std::to_string(run.nr);
  } else {
    r = hv::map_gpa_range(vm, run.args[0], run.args[1], run.args[2], timing);
  }
  run.ret = r.ret;
  return r;
}

ConvertResult handle_memory_fault(hv::Vm& vm, const hv::KvmMemoryFault& fault,
                                  hv::RmpUpdateTiming timing) {
  return convert_memory(vm, fault.gpa, fault.size,
                        (fault.flags & hv::kKvmMemoryExitFlagPrivate) != 0, timing);
}

}  // namespace snpemu::vmm
