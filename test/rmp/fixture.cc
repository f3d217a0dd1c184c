// test/rmp/fixture.cc: test machines with an RMP.
#include "test/rmp/fixture.h"

#include <cstdlib>

namespace snpemu::rmp::testing {

RmpMachine make_machine(Layout layout, Backing backing) {
  const bool touch = backing == Backing::kTouchedFirst;
  RmpMachine m;
  if (layout == Layout::kContiguous) {
    const uint64_t size = uint64_t{512} << 20;
    m.mem = std::move(*Memory::create(size));
    const uint64_t base = size - (uint64_t{4} << 20);
    if (touch) (void)m.mem->page_pointer(Pfn{(base + 0x4000) >> 12});
    auto rmp = Rmp::create(*m.mem, RmpMsrs{kSyscfg, base, size - 1, 0});
    if (!rmp) std::abort();
    m.rmp.emplace(std::move(*rmp));
    m.covered = {{0, size >> 12}};
    m.rmp_pages = {{base >> 12, size >> 12}};
    return m;
  }
  const uint64_t size = uint64_t{1} << 30;
  m.mem = std::move(*Memory::create(size));
  const uint64_t base = 0x3000'0000;
  for (uint64_t i = 0; i < 256; ++i) {
    if (i == 5) continue;
    const uint64_t table = (uint64_t{512} << 20) + (i << 20);
    (void)m.mem->write64(Hpa{base + 0x4000 + i * 8}, table | 1);  // 1 GiB capped to 2 MiB
    m.covered.push_back({i * 512, (i + 1) * 512});
    m.rmp_pages.push_back({table >> 12, (table >> 12) + 2});
    if (touch && i >= 6 && i % 3 == 0) (void)m.mem->page_pointer(Pfn{table >> 12});
  }
  m.rmp_pages.push_back({base >> 12, (base + 0x5000) >> 12});
  auto rmp = Rmp::create(*m.mem, RmpMsrs{kSyscfg, base, 0, kRmpCfgSegmented | (21u << 8)}, kCpuid);
  if (!rmp) std::abort();
  m.rmp.emplace(std::move(*rmp));
  return m;
}

}  // namespace snpemu::rmp::testing
