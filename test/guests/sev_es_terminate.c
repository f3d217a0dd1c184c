/* test/guests/sev_es_terminate.c: termination with a reason the VMM must report exactly.
 *
 * Proves: SEV_INFO negotiation succeeds, then a GHCB MSR-protocol TERM_REQ (0x100) with reason
 * set 0xF (GHCB_TERM_SET_TEST, bits 15:12) and reason code 0xA5 (bits 23:16) reaches the VMM as
 * a SEV_TERM system event whose data[0] is the MSR value 0x0000_0000_00A5_F100
 * (PLATFORM-FACTS 1.7). Both fields non-zero and distinct, so a swapped or shifted field shows.
 * The guest never gets past the request: it HLTs forever after it (the HLT is an automatic exit;
 * a VMM that resumes the guest sees HLT exits, never the fallback below).
 * If negotiation fails the library terminates with set 0 code 1 instead (the test can tell).
 * Native twin: the same code without the IDT (test/ghcb_guest/payloads_test, fake KVM), where
 * the termination returns and guest_main returns 2. */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#define TERMINATE_CODE 0xA5u

#ifndef GUEST_NATIVE
static struct ghcb_idt idt __attribute__((aligned(16)));
#endif
static struct ghcb_ctx ctx;

long guest_main(void) {
  ghcb_ctx_init(&ctx, NULL, 0, 0);
#ifndef GUEST_NATIVE
  ghcb_idt_install(&idt, &ctx);
#endif
  if (ghcb_msr_negotiate(&ctx) != GHCB_OK) return 1;
  ghcb_msr_terminate(GHCB_TERM_SET_TEST, TERMINATE_CODE);
  return 2; /* unreachable on hardware: ghcb_halt loops on HLT */
}
