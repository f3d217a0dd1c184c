/* test/guests/pagefault.c: demand paging. The guest installs its own IDT and 4-level page
 * tables (the loader's identity map plus a 4 KiB-page region at 512 GiB that starts unmapped);
 * its #PF handler reads CR2 and the error code and maps the page on demand:
 *   not present, read   -> map read-only          not present, write -> map read/write
 *   not present, fetch  -> map no-execute         present, write     -> make writable
 *   present, fetch      -> clear NX
 * so touching the region produces a known sequence of architectural error codes (P, W/R, U/S,
 * I/D; APM vol 2, 8.4.2). It prints a checksum of the region's contents, then every (CR2,
 * error code) pair. The native twin runs the same computation over a plain buffer and prints
 * only the checksum line.
 */
#include "test/guests/lib/guest.h"
#ifndef GUEST_NATIVE
#include "test/guests/kernel.h"
#endif

#define REGION_PAGES 8
#define PAGE 4096u
#define CODE_PAGE 6
#define CODE_OFFSET 16
#define CODE_RESULT 0x1234u

#ifdef GUEST_NATIVE
static uint8_t native_region[REGION_PAGES * PAGE];
#endif

/* Writes and reads the region in a fixed order and returns a checksum of what it saw. The order
 * decides the fault sequence when the region is demand-paged. */
static uint64_t touch_region(volatile uint8_t* r, uint64_t (*code)(void)) {
  uint64_t sum = 0;
  /* page 0: read (not present), then write (present, read-only) */
  sum += r[0 * PAGE + 100];
  r[0 * PAGE + 200] = 0x5A;
  /* pages 1..5: writes (not present) */
  for (unsigned p = 1; p <= 5; ++p) {
    for (unsigned i = 0; i < PAGE; ++i) r[p * PAGE + i] = (uint8_t)(i * 7 + p * 13 + (i >> 5));
  }
  /* page 6: execute (not present, then present with NX) */
  sum += code();
  /* page 7: read, read again (no fault), then write (present, read-only) */
  sum += r[7 * PAGE + 8];
  sum += r[7 * PAGE + 4000];
  r[7 * PAGE + 9] = 0xC3;
  /* read everything back */
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned p = 0; p < REGION_PAGES; ++p) {
    if (p == CODE_PAGE) continue;
    for (unsigned i = 0; i < PAGE; ++i) {
      h ^= r[p * PAGE + i];
      h *= 0x100000001B3ull;
    }
  }
  return sum * 0x9E3779B97F4A7C15ull ^ h;
}

#ifdef GUEST_NATIVE

static uint64_t native_code(void) { return CODE_RESULT; }

long guest_main(void) {
  for (unsigned i = 0; i < sizeof native_region; ++i) native_region[i] = 0;
  const uint64_t sum = touch_region(native_region, native_code);
  guest_puts("checksum ");
  guest_put_hex(sum);
  guest_putc('\n');
  return 0;
}

#else

#define REGION_BASE 0x8000000000ull /* PML4 index 1: 512 GiB */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_NX (1ull << 63)
/* #PF error code bits. APM vol 2, 8.4.2 Figure 8-8. */
#define PF_P 0x1u
#define PF_W 0x2u
#define PF_I 0x10u

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t frames[REGION_PAGES][PAGE] __attribute__((aligned(4096)));
static struct kernel_gate idt[256] __attribute__((aligned(16)));

#define MAX_FAULTS 32
static uint64_t fault_cr2[MAX_FAULTS];
static uint64_t fault_err[MAX_FAULTS];
static uint64_t fault_rip_in_region[MAX_FAULTS];
static unsigned fault_count;
static unsigned unexpected_vector = 0xFFFF;

static inline void guest_outl(uint16_t port, uint32_t value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

KERNEL_STUB_ERR(pf_stub, 14);
void pagefault_trap(struct kernel_frame* f);
KERNEL_TRAP_COMMON(pagefault_trap);

void pagefault_trap(struct kernel_frame* f) {
  if (f->vector != 14) {
    unexpected_vector = (unsigned)f->vector;
    return;
  }
  const uint64_t cr2 = kernel_read_cr2();
  const uint64_t err = f->error_code;
  if (fault_count < MAX_FAULTS) {
    fault_cr2[fault_count] = cr2;
    fault_err[fault_count] = err;
    fault_rip_in_region[fault_count] = f->rip == cr2;
    ++fault_count;
  }
  const uint64_t page = (cr2 - REGION_BASE) / PAGE;
  if (cr2 < REGION_BASE || page >= REGION_PAGES || fault_count > 16) {
    /* Not a region page, or the handler keeps faulting: stop instead of looping forever. */
    guest_puts("runaway page fault at ");
    guest_put_hex(cr2);
    guest_puts(" rip ");
    guest_put_hex(f->rip);
    guest_puts(" err ");
    guest_put_hex(err);
    guest_puts(" after ");
    guest_put_dec(fault_count);
    guest_putc('\n');
    for (unsigned i = 0; i < fault_count; ++i) {
      guest_puts("  pf cr2=");
      guest_put_hex(fault_cr2[i]);
      guest_puts(" err=");
      guest_put_hex(fault_err[i]);
      guest_putc('\n');
    }
    guest_outl(GUEST_EXIT_PORT, 99);
    for (;;) __asm__ volatile("cli; hlt");
  }
  uint64_t e = pt[page];
  if (!(err & PF_P)) {
    e = (uint64_t)frames[page] | PTE_P;
    if (err & PF_W) e |= PTE_RW;
    if (err & PF_I) e |= PTE_NX;
  } else if (err & PF_W) {
    e |= PTE_RW;
  } else if (err & PF_I) {
    e &= ~PTE_NX;
  }
  pt[page] = e;
  kernel_invlpg(cr2);
}

long guest_main(void) {
  /* The code the region's page 6 executes: mov $CODE_RESULT, %eax; ret. */
  static const uint8_t code[] = {0xB8, CODE_RESULT & 0xFF, CODE_RESULT >> 8, 0, 0, 0xC3};
  for (unsigned i = 0; i < sizeof code; ++i) frames[CODE_PAGE][CODE_OFFSET + i] = code[i];

  kernel_set_gate(idt, 14, pf_stub, 0);
  kernel_lidt(idt, sizeof idt - 1);
  /* PML4[0] keeps the loader's identity map; PML4[1] -> pdpt -> pd -> pt (all not present). */
  const uint64_t* loader_pml4 = (const uint64_t*)(kernel_read_cr3() & ~0xFFFull);
  pml4[0] = loader_pml4[0];
  pml4[1] = (uint64_t)pdpt | PTE_P | PTE_RW;
  pdpt[0] = (uint64_t)pd | PTE_P | PTE_RW;
  pd[0] = (uint64_t)pt | PTE_P | PTE_RW;
  kernel_write_cr3((uint64_t)pml4);

  volatile uint8_t* region = (volatile uint8_t*)REGION_BASE;
  uint64_t (*region_code)(void) =
      (uint64_t(*)(void))(REGION_BASE + CODE_PAGE * PAGE + CODE_OFFSET);
  /* Hide the constant addresses from gcc. With them in view gcc 12 -O2 compiled the page-fill
   * loop of touch_region as never ending (a bare `jmp` back) and dropped the rest of guest_main
   * (observed in the disassembly; UNCONFIRMED: presumably it treats accesses through an integer
   * constant address as undefined behaviour once they pass some object size). */
  __asm__("" : "+r"(region), "+r"(region_code));
  const uint64_t sum = touch_region(region, region_code);
  guest_puts("checksum ");
  guest_put_hex(sum);
  guest_putc('\n');
  for (unsigned i = 0; i < fault_count; ++i) {
    guest_puts("pf cr2=");
    guest_put_hex(fault_cr2[i]);
    guest_puts(" err=");
    guest_put_hex(fault_err[i]);
    guest_puts(fault_rip_in_region[i] ? " rip=cr2\n" : "\n");
  }
  if (unexpected_vector != 0xFFFF) {
    guest_puts("unexpected ");
    guest_put_hex(unexpected_vector);
    guest_putc('\n');
    return 1;
  }
  return 0;
}

#endif
