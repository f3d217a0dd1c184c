/* ghcb/guest/primitives.c: the instructions the library needs, as inline assembly, or (native
 * build, -DGHCB_GUEST_NATIVE) as calls to the ghcb_native_* hooks a test provides.
 * Encodings: PLATFORM-FACTS 0 [L] asm/sev.h; operands: PLATFORM-FACTS 4.5, 4.6. */
#include "ghcb/guest/ghcb_guest.h"

#ifdef GHCB_GUEST_NATIVE

uint64_t ghcb_rdmsr(uint32_t msr) { return ghcb_native_rdmsr(msr); }
void ghcb_wrmsr(uint32_t msr, uint64_t value) { ghcb_native_wrmsr(msr, value); }
void ghcb_vmgexit(void) { ghcb_native_vmgexit(); }

int ghcb_pvalidate_raw(uint64_t va, unsigned page_size, unsigned validate, int* cf) {
  *cf = 0;
  return ghcb_native_pvalidate(va, page_size, validate, cf);
}

int ghcb_rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs) {
  return ghcb_native_rmpadjust(va, page_size, attrs);
}

void ghcb_halt(void) { ghcb_native_halt(); }

#else

uint64_t ghcb_rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
  return ((uint64_t)hi << 32) | lo;
}

void ghcb_wrmsr(uint32_t msr, uint64_t value) {
  __asm__ volatile("wrmsr"
                   :
                   : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                   : "memory");
}

void ghcb_vmgexit(void) {
  /* rep; vmmcall. The hypervisor reads and writes the GHCB page: a full memory clobber. */
  __asm__ volatile(".byte 0xF3, 0x0F, 0x01, 0xD9" : : : "memory");
}

int ghcb_pvalidate_raw(uint64_t va, unsigned page_size, unsigned validate, int* cf) {
  uint64_t rax = va;
  uint8_t carry;
  /* RAX = va, ECX = size, EDX = validate; EAX = code, CF = 1 "no update" [L] asm/sev.h. */
  __asm__ volatile(".byte 0xF2, 0x0F, 0x01, 0xFF\n\tsetc %1"
                   : "+a"(rax), "=qm"(carry)
                   : "c"((uint64_t)page_size), "d"((uint64_t)validate)
                   : "memory", "cc");
  *cf = carry;
  return (int)(uint32_t)rax;
}

int ghcb_rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs) {
  uint64_t rax = va;
  /* RAX = va, RCX = size, RDX = attributes; EAX = code [L] asm/sev.h. */
  __asm__ volatile(".byte 0xF3, 0x0F, 0x01, 0xFE"
                   : "+a"(rax)
                   : "c"((uint64_t)page_size), "d"(attrs)
                   : "memory", "cc");
  return (int)(uint32_t)rax;
}

void ghcb_halt(void) {
  for (;;) __asm__ volatile("hlt" : : : "memory");
}

#endif

int ghcb_pvalidate(uint64_t va, unsigned page_size, unsigned validate) {
  int cf = 0;
  const int rc = ghcb_pvalidate_raw(va, page_size, validate, &cf);
  /* Linux maps CF = 1 to PVALIDATE_FAIL_NOUPDATE whatever EAX holds [L] asm/sev.h. */
  return cf ? GHCB_PVALIDATE_FAIL_NOUPDATE : rc;
}

uint64_t ghcb_msr_read(void) { return ghcb_rdmsr(GHCB_MSR_GHCB); }
void ghcb_msr_write(uint64_t value) { ghcb_wrmsr(GHCB_MSR_GHCB, value); }
uint64_t ghcb_sev_status(void) { return ghcb_rdmsr(GHCB_MSR_SEV_STATUS); }
