/* test/guests/sev_es_cpuid_loop.c: the SEV-ES guest of //bench:exit_bench. Sets up the IDT and
 * the GHCB (ghcb/guest), prints "ready", then executes CPUID forever: each one is a #VC, a GHCB
 * CPUID request and a VMGEXIT round trip through the hypervisor, which is what the bench times.
 * Never returns; the bench stops it with its cycle budget. */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#ifndef GUEST_NATIVE
static struct ghcb_idt idt __attribute__((aligned(16)));
#endif
struct ghcb sev_es_cpuid_loop_ghcb __attribute__((aligned(4096)));
uint64_t sev_es_cpuid_loop_pt[512] __attribute__((aligned(4096)));
struct ghcb_ctx sev_es_cpuid_loop_ctx;

long guest_main(void) {
  struct ghcb_ctx* const c = &sev_es_cpuid_loop_ctx;
  ghcb_ctx_init(c, NULL, 0, 0);
#ifndef GUEST_NATIVE
  ghcb_idt_install(&idt, c);
#endif
  if (ghcb_es_init(c, &sev_es_cpuid_loop_ghcb, sev_es_cpuid_loop_pt) != GHCB_OK) {
    ghcb_msr_terminate(GHCB_TERM_SET_TEST, 1);
    return 1;
  }
  ghcb_out_puts("ready\n");
#ifndef GUEST_NATIVE
  for (;;) {
    uint32_t r[4];
    ghcb_cpuid_insn(0, 0, r);
  }
#endif
  return 0;
}
