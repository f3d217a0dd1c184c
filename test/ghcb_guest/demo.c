/* test/ghcb_guest/demo.c: a small SNP guest using ghcb/guest the way Linux boots: negotiate the
 * GHCB protocol and check SNP support (MSR protocol), make the GHCB page shared and register
 * it, then print over the GHCB console, read CPUID 0x8000001F, convert a data buffer to shared
 * and back to private (GHCB PSC), and report through isa-debug-exit.
 *
 * Built twice (ghcb/guest/ghcb_guest.bzl): demo.elf for the emulator (identity-mapped, so a
 * GPA is the address of the object) and demo_native, run by ghcb_guest_demo_test against the
 * fake KVM (a "GPA" is then the host address, which the fake uses the same way). */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

/* Guest memory the test seeds as private and validated, as launch memory would be. */
struct ghcb ghcb_demo_page __attribute__((aligned(4096)));
uint8_t ghcb_demo_buffer[2 * 4096] __attribute__((aligned(4096)));

static uint64_t gpa_of(const void* p) { return (uint64_t)(uintptr_t)p; }

long guest_main(void) {
  struct ghcb_ctx ctx;
  const uint64_t ghcb_gpa = gpa_of(&ghcb_demo_page);
  ghcb_ctx_init(&ctx, &ghcb_demo_page, 0, 0);
  if (ghcb_msr_sev_setup(&ctx, 1) != GHCB_OK) return 1;
  /* The GHCB must be shared before the hypervisor can use it: rescind, PSC (MSR form). */
  if (ghcb_msr_psc(&ctx, ghcb_gpa, 1, GHCB_PSC_SHARED) != GHCB_OK) return 2;
  if (ghcb_msr_register_ghcb(&ctx, ghcb_gpa) != GHCB_OK) return 3;
  /* Contents of a page that changed state are undefined: start from zero. */
  for (size_t i = 0; i < sizeof ghcb_demo_page; ++i) ((volatile uint8_t*)&ghcb_demo_page)[i] = 0;

  ghcb_console_puts(&ctx, "ghcb demo: protocol v");
  ghcb_console_putc(&ctx, (char)('0' + ctx.version));
  uint32_t regs[4];
  if (ghcb_cpuid(&ctx, 0x8000001F, 0, 1, regs) != GHCB_OK) return 4;
  ghcb_console_puts(&ctx, " cpuid 0x8000001f ebx ");
  ghcb_console_put_hex(&ctx, regs[1]);

  const uint64_t buf = gpa_of(ghcb_demo_buffer);
  if (ghcb_set_pages_state(&ctx, buf, 2, GHCB_PSC_SHARED) != GHCB_OK) return 5;
  ghcb_demo_buffer[0] = 0x5A; /* shared: visible to the host */
  if (ghcb_set_pages_state(&ctx, buf, 2, GHCB_PSC_PRIVATE) != GHCB_OK) return 6;
  ghcb_console_puts(&ctx, " psc ok\n");
  /* In the emulator the VM stops at this OUT; natively the function returns. */
  ghcb_console_exit(&ctx, 0);
  return 0;
}
