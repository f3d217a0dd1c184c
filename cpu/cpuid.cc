// cpu/cpuid.cc: the default Zen 4 CPUID profile.
#include "cpu/cpuid.h"

namespace snpemu::cpu {

std::vector<CpuidLeaf> zen4_cpuid() {
  return {
      // Max standard leaf 0x10, vendor "AuthenticAMD" in EBX, EDX, ECX. APM vol 3, E.3.1.
      {0x0, kAnySubleaf, 0x10, 0x68747541, 0x444D4163, 0x69746E65},
      // Family 19h model 11h stepping 1 (Genoa): EAX 0x00A10F11.
      // UNCONFIRMED: exact stepping of the modelled part.
      // EDX: FPU TSC MSR PAE CX8 APIC SEP PGE CMOV PAT CLFSH FXSR SSE SSE2 (bits per APM E.3.2).
      // ECX: SSE3 CX16(13) POPCNT(23) MOVBE(22) XSAVE(26) HYPERVISOR(31) clear.
      {0x1, kAnySubleaf, 0x00A10F11, 0x00000800, 0x06E02203, 0x178BFBFF},
      // Leaf 7 subleaf 0: BMI1(3) SMEP(7) BMI2(8) SMAP(20). APM vol 3, E.3.6.
      {0x7, 0, 0, 0x00100188, 0, 0},
      // Max extended leaf 0x80000026; vendor again.
      {0x80000000, kAnySubleaf, 0x80000026, 0x68747541, 0x444D4163, 0x69746E65},
      // ECX: LahfSahf(0) SVM(2) ABM/LZCNT(5) MONITORX(29); EDX: SYSCALL(11) NX(20) Page1GB(26)
      // RDTSCP(27) LM(29). APM vol 3, E.4.2.
      {0x80000001, kAnySubleaf, 0x00A10F11, 0, 0x20000025, 0x2C100800},
      // Address sizes: 52 physical, 57 linear bits. UNCONFIRMED for the modelled part.
      {0x80000008, kAnySubleaf, 0x00003934, 0x00000001 /* CLZERO */, 0, 0},
      // SVM: revision 1, 32768 ASIDs. EDX: the features the model implements: NP(0), NRIPS(3),
      // VmcbClean(5, accepted; the model always reloads), FlushByAsid(6), DecodeAssists(7: CR/DR
      // GPR, INVLPG address, INTn vector), PauseFilter(10). APM vol 3, E.4.9.
      // UNCONFIRMED: Genoa ASID count.
      {0x8000000A, kAnySubleaf, 1, 0x8000, 0, 0x000004E9},
      // SEV: EAX bit 0 SME, 1 SEV, 3 SEV-ES, 4 SEV-SNP; EBX[5:0] C-bit 51, [11:6] phys-reduction
      // 1, [15:12] 4 VMPLs; ECX 1006 ASIDs; EDX the first ASID of plain SEV guests (ASIDs below
      // it are SEV-ES/SNP ASIDs: KVM's min_sev_asid). PLATFORM-FACTS 0x8000_001F [L].
      // ESTIMATE: EDX is a BIOS setting ("SEV-ES ASID space limit"); 100 gives 99 SEV-ES/SNP
      // ASIDs. The counts are those of one Genoa part, not read from hardware.
      {0x8000001F, kAnySubleaf, 0x0000001B, 0x00004073, 1006, 100},
  };
}

std::optional<CpuidLeaf> find_cpuid(std::span<const CpuidLeaf> leaves, uint32_t function,
                                    uint32_t subleaf) {
  for (const CpuidLeaf& l : leaves) {
    if (l.function == function && (l.subleaf == kAnySubleaf || l.subleaf == subleaf)) return l;
  }
  return std::nullopt;
}

}  // namespace snpemu::cpu
