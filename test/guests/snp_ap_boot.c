/* test/guests/snp_ap_boot.c: SNP AP creation (PLATFORM-FACTS 9.2) -- the BSP starts three APs
 * with VMSAs it builds itself, as Linux's wakeup_cpu_via_vmgexit does, and each AP runs its own
 * code on its own stack and reports back through private memory.
 *
 * Run with `snpemu run --sev snp --vcpus 4 --ap-start wait` (APs in MP state UNINITIALIZED until
 * the guest creates them). The BSP:
 *   1. sets up its IDT and GHCB (registered, shared after a Page State Change);
 *   2. for AP i = 1..3 fills a VMSA in the second page of an 8 KiB block (never 2 MiB aligned):
 *      64-bit mode with the BSP's CR0/CR3/CR4, GDT and segments, EFER = LME|LMA|NXE|SVME,
 *      RIP = ap_entry, RSP = the AP's stack top, RDI = i, SEV_FEATURES = SEV_STATUS >> 2 (Linux's
 *      rule), then RMPADJUSTs it into a VMSA page and sends AP_CREATION CREATE for APIC ID i;
 *   3. waits until each AP has reported (bounded loop), prints one line per AP and terminates
 *      with reason set 0 code 0.
 * Each AP: stores 0xA9000000 | i | 0x100 (if a local variable lies on its own stack) into
 * ap_report[i], then halts (HLT is an automatic exit: the VMM sees the vCPU halt).
 * Expected console:
 *   snp_ap_boot: started 3 APs
 *   ap 1 ran on its own stack
 *   ap 2 ran on its own stack
 *   ap 3 ran on its own stack
 *   snp_ap_boot: ok
 * Failures terminate with set 0xF (GHCB_TERM_SET_TEST): code 0x10 not SNP, 0x11 GHCB set-up,
 * 0x20 + i AP creation of AP i refused, 0x30 + i AP i never reported, 0x40 + i AP i reported a
 * wrong value. Bare-metal only: no native twin. */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#ifdef GUEST_NATIVE

long guest_main(void) { return 0; }

#else

#define NUM_APS 3
#define AP_MAGIC 0xA9000000ull
#define AP_ON_STACK 0x100ull

static struct ghcb_idt idt __attribute__((aligned(16)));
static struct ghcb ghcb_page __attribute__((aligned(4096)));
static uint64_t ghcb_pt[512] __attribute__((aligned(4096)));
static struct ghcb_ctx ctx;
/* An 8 KiB block per AP; the VMSA is its second page (odd 4 KiB index: never 2 MiB aligned). */
static uint8_t vmsa_blocks[NUM_APS][2][4096] __attribute__((aligned(8192)));
static uint8_t ap_stacks[NUM_APS][8192] __attribute__((aligned(16)));
volatile uint64_t ap_report[NUM_APS + 1];

/* The AP's first instruction: RSP and RDI come from its VMSA. */
void ap_entry(void);
__asm__(".text\n.globl ap_entry\nap_entry:\n"
        "  mov %rsp, %rsi\n"
        "  call ap_main\n"
        "1: cli\n  hlt\n  jmp 1b\n");

void ap_main(uint64_t index, uint64_t stack_top);
void ap_main(uint64_t index, uint64_t stack_top) {
  volatile uint64_t local = index;
  const uint64_t at = (uint64_t)(uintptr_t)&local;
  const uint64_t on_stack = at < stack_top && at + 4096 > stack_top ? AP_ON_STACK : 0;
  if (index >= 1 && index <= NUM_APS) ap_report[index] = AP_MAGIC | on_stack | local;
}

/* VMSA layout (APM vol 2 table B-4; cpu/svm/vmsa.h offsets). */
struct vmsa_seg {
  uint16_t selector, attrib;
  uint32_t limit;
  uint64_t base;
};
static void put64(uint8_t* v, unsigned off, uint64_t x) { *(volatile uint64_t*)(v + off) = x; }
static void put32(uint8_t* v, unsigned off, uint32_t x) { *(volatile uint32_t*)(v + off) = x; }
static void put16(uint8_t* v, unsigned off, uint16_t x) { *(volatile uint16_t*)(v + off) = x; }
static void put_seg(uint8_t* v, unsigned off, uint16_t sel, uint16_t attrib, uint32_t limit, uint64_t base) {
  put16(v, off, sel);
  put16(v, off + 2, attrib);
  put32(v, off + 4, limit);
  put64(v, off + 8, base);
}

static void fill_vmsa(uint8_t* v, uint64_t index, uint64_t sev_features) {
  for (unsigned i = 0; i < 4096; ++i) v[i] = 0;
  uint64_t cr0, cr3, cr4;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } gdtr;
  __asm__ volatile("sgdt %0" : "=m"(gdtr));
  uint16_t cs, ds;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  __asm__ volatile("mov %%ds, %0" : "=r"(ds));
  /* Attributes in the VMCB packing: 64-bit code (P S DPL0 exec/read accessed, L, G), data
   * (P S read/write accessed, D/B, G), busy 64-bit TSS (APM vol 2 4.7-4.8, 15.5.1). */
  put_seg(v, 0x00, ds, 0xC93, 0xFFFFFFFF, 0); /* es */
  put_seg(v, 0x10, cs, 0xA9B, 0xFFFFFFFF, 0); /* cs */
  put_seg(v, 0x20, ds, 0xC93, 0xFFFFFFFF, 0); /* ss */
  put_seg(v, 0x30, ds, 0xC93, 0xFFFFFFFF, 0); /* ds */
  put_seg(v, 0x40, ds, 0xC93, 0xFFFFFFFF, 0); /* fs */
  put_seg(v, 0x50, ds, 0xC93, 0xFFFFFFFF, 0); /* gs */
  put_seg(v, 0x60, 0, 0, gdtr.limit, gdtr.base); /* gdtr */
  put_seg(v, 0x90, 0, 0x8B, 0x67, 0);            /* tr */
  put64(v, 0xD0, (1ull << 8) | (1ull << 10) | (1ull << 11) | (1ull << 12)); /* EFER LME LMA NXE SVME */
  put64(v, 0x148, cr4);
  put64(v, 0x150, cr3);
  put64(v, 0x158, cr0);
  put64(v, 0x160, 0x400);      /* DR7 reset */
  put64(v, 0x168, 0xFFFF0FF0); /* DR6 reset */
  put64(v, 0x170, 0x2);        /* RFLAGS */
  put64(v, 0x178, (uint64_t)(uintptr_t)ap_entry);
  put64(v, 0x1D8, (uint64_t)(uintptr_t)&ap_stacks[index - 1][8192]);
  put64(v, 0x268, 0x0007040600070406ull); /* PAT reset (APM vol 2 7.8.1) */
  put64(v, 0x338, index);                 /* RDI */
  put64(v, 0x3B0, sev_features);
  put64(v, 0x3E8, 1);      /* XCR0 */
  put32(v, 0x408, 0x1F80); /* MXCSR reset */
  put16(v, 0x410, 0x37F);  /* x87 FCW reset */
}

static void fail(unsigned code) { ghcb_msr_terminate(GHCB_TERM_SET_TEST, code); }

long guest_main(void) {
  ghcb_ctx_init(&ctx, NULL, 0, 0);
  ghcb_idt_install(&idt, &ctx);
  const uint64_t status = ghcb_sev_status();
  if (!(status & GHCB_SEV_STATUS_SNP)) fail(0x10);
  if (ghcb_es_init(&ctx, &ghcb_page, ghcb_pt) != GHCB_OK) fail(0x11);
  const uint64_t features = status >> 2; /* Linux wakeup_cpu_via_vmgexit */
  for (uint64_t i = 1; i <= NUM_APS; ++i) {
    uint8_t* vmsa = vmsa_blocks[i - 1][1];
    fill_vmsa(vmsa, i, features);
    if (ghcb_snp_start_ap(&ctx, (uint32_t)i, (uint64_t)(uintptr_t)vmsa, features) != GHCB_OK) fail(0x20 + (unsigned)i);
  }
  ghcb_console_puts(&ctx, "snp_ap_boot: started 3 APs\n");
  for (uint64_t i = 1; i <= NUM_APS; ++i) {
    unsigned long spins = 0;
    while (ap_report[i] == 0) {
      __asm__ volatile("pause");
      if (++spins > 50000000ul) fail(0x30 + (unsigned)i);
    }
    if (ap_report[i] != (AP_MAGIC | AP_ON_STACK | i)) fail(0x40 + (unsigned)i);
    ghcb_console_puts(&ctx, "ap ");
    ghcb_console_putc(&ctx, (char)('0' + i));
    ghcb_console_puts(&ctx, " ran on its own stack\n");
  }
  ghcb_console_puts(&ctx, "snp_ap_boot: ok\n");
  ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_GEN_REQ);
  return 0;
}

#endif
