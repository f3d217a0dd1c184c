// test/vmm/guest_fuzz.cc: a malicious guest against the whole hypervisor model. The input is a
// script of guest actions, compiled into guest machine code and run under `run_guest` as a plain
// or an SEV-ES guest: raw bytes, GHCB MSR-protocol requests with fuzzed values (wrmsr to
// 0xC001_0130 + VMGEXIT), fuzzed 8-byte writes into a GHCB page followed by a GHCB-protocol
// VMGEXIT, CPUID, port I/O and HLT. Invariants: the model never crashes or hangs (ASan/UBSan in
// --config=fuzz and --config=asan), every run ends with a result or one error line, and the
// same input gives the same outcome.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "emu/vmm/runner.h"
#include "test/emu/elf_builder.h"

namespace {

constexpr uint64_t kGhcbGpa = 0x200000;

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t byte() { return n ? (--n, *p++) : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{byte()} << (8 * i);
    return v;
  }
};

void put32(std::vector<uint8_t>& c, uint32_t v) {
  for (int i = 0; i < 4; ++i) c.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void vmgexit(std::vector<uint8_t>& c) { c.insert(c.end(), {0xF3, 0x0F, 0x01, 0xD9}); }

// wrmsr GHCB MSR with edx:eax = (hi, lo).
void write_ghcb_msr(std::vector<uint8_t>& c, uint32_t lo, uint32_t hi) {
  c.push_back(0xB9);
  put32(c, 0xC0010130);  // mov ecx, GHCB MSR
  c.push_back(0xB8);
  put32(c, lo);  // mov eax, lo
  c.push_back(0xBA);
  put32(c, hi);  // mov edx, hi
  c.insert(c.end(), {0x0F, 0x30});  // wrmsr
}

std::vector<uint8_t> compile(Reader& in) {
  std::vector<uint8_t> c;
  while (in.n > 0 && c.size() < 3500) {
    switch (in.byte() % 8) {
      case 0: {  // raw bytes
        const unsigned k = 1 + in.byte() % 8;
        for (unsigned i = 0; i < k; ++i) c.push_back(in.byte());
        break;
      }
      case 1: {  // MSR protocol request
        const uint32_t lo = in.u32(), hi = in.u32();
        write_ghcb_msr(c, lo, hi);
        vmgexit(c);
        break;
      }
      case 2: {  // mov dword [ghcb + off], imm32
        const uint32_t off = (in.byte() | (in.byte() << 8)) & 0xFFC;
        c.insert(c.end(), {0xC7, 0x04, 0x25});
        put32(c, static_cast<uint32_t>(kGhcbGpa + off));
        put32(c, in.u32());
        break;
      }
      case 3:  // GHCB protocol: the GHCB MSR holds the page's GPA, then VMGEXIT
        write_ghcb_msr(c, static_cast<uint32_t>(kGhcbGpa), 0);
        vmgexit(c);
        break;
      case 4: {  // cpuid with eax = fuzz
        c.push_back(0xB8);
        put32(c, in.u32());
        c.insert(c.end(), {0x0F, 0xA2});
        break;
      }
      case 5:  // out 0xe9, al / in al, dx
        c.insert(c.end(), {0xE6, 0xE9, 0xEC});
        break;
      case 6:  // valid registration-looking request: GHCB GPA register
        write_ghcb_msr(c, static_cast<uint32_t>(kGhcbGpa | 0x012), 0);
        vmgexit(c);
        break;
      default:
        c.push_back(0xF4);  // hlt
        break;
    }
  }
  c.push_back(0xF4);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  const bool sev_es = (in.byte() & 1) != 0;
  snpemu::test::ElfBuilder elf;
  elf.add(0x100000, compile(in), 0x1000);
  snpemu::vmm::GuestRunOptions o;
  o.type = sev_es ? snpemu::hv::VmType::kSevEs : snpemu::hv::VmType::kDefault;
  o.mem_bytes = uint64_t{4} << 20;
  o.max_cycles = 300'000;
  const auto image = elf.bytes();
  std::ostringstream c1, c2;
  const auto a = snpemu::vmm::run_guest(image, o, c1);
  const auto b = snpemu::vmm::run_guest(image, o, c2);
  const bool same = a.has_value() == b.has_value() && c1.str() == c2.str() &&
                    (a ? (a->cycles == b->cycles && a->exits == b->exits && a->end == b->end)
                       : a.error() == b.error());
  if (!same) {
    std::fprintf(stderr, "guest_fuzz: two runs of the same input differ\n");
    std::abort();
  }
  if (!a && a.error().find('\n') != std::string::npos) {
    std::fprintf(stderr, "guest_fuzz: error is not one line: %s\n", a.error().c_str());
    std::abort();
  }
  return 0;
}
