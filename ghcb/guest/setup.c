/* ghcb/guest/setup.c: setting up a vCPU's GHCB the way Linux's decompressor does
 * (arch/x86/boot/compressed/sev.c sev_es_setup_ghcb, ident_map_64.c set_page_decrypted; facts
 * only): the GHCB page lives in the guest image (private, validated at launch for SNP), is made
 * shared by clearing the C-bit in its mapping, after an SNP page-state change, and is then
 * zeroed and, for SNP, registered. Also the console through plain OUT/IN (the #VC path).
 *
 * Memory layout choice: the boot identity map (emu/exec/boot_layout.h) uses 2 MiB pages, so the
 * PDE covering the GHCB is split into a 4 KiB page table the caller provides (in its image);
 * only the GHCB's PTE loses the C-bit, everything else in that 2 MiB stays private. This keeps
 * the GHCB inside launched memory, so no unlaunched GPA is touched. */
#include "ghcb/guest/ghcb_guest.h"

#define PTE_P (1ull << 0)
#define PTE_PS (1ull << 7)      /* in a PDE/PDPTE: leaf */
#define PTE_PAT_4K (1ull << 7)  /* PAT bit of a 4 KiB PTE */
#define PTE_PAT_LARGE (1ull << 12)
#define PTE_ADDR 0x000FFFFFFFFFF000ull
#define PTE_HIGH 0xFFF0000000000000ull /* NX, protection key, ignored bits */
#define SIZE_2M (2ull << 20)

/* Page-table formats: APM vol 2 5.3.3 (long-mode 4-level paging, 2 MiB PDE and 4 KiB PTE). */
enum ghcb_result ghcb_pt_set_shared(uint64_t cr3, uint64_t va, unsigned c_bit, int shared,
                                    uint64_t* pt_page, uint64_t va_offset) {
  if (c_bit < 32 || c_bit > 51) return GHCB_BAD_ARGUMENT;
  const uint64_t cbit = 1ull << c_bit;
  const uint64_t addr = PTE_ADDR & ~cbit;
  volatile uint64_t* table = (volatile uint64_t*)(uintptr_t)((cr3 & addr) + va_offset);
  for (unsigned level = 4; level >= 2; --level) {
    const unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
    uint64_t e = table[idx];
    if (!(e & PTE_P)) return GHCB_BAD_ARGUMENT;
    if (level == 3 && (e & PTE_PS)) return GHCB_BAD_ARGUMENT; /* 1 GiB page: not handled */
    if (level == 2 && (e & PTE_PS)) {
      if (pt_page == NULL || ((uintptr_t)pt_page & 0xFFF) != 0) return GHCB_BAD_ARGUMENT;
      /* Split: 512 PTEs with the leaf's attributes (PAT moves from bit 12 to bit 7). */
      const uint64_t base = e & addr & ~(SIZE_2M - 1);
      uint64_t flags = (e & 0xFFF & ~PTE_PS) | (e & (PTE_HIGH | cbit));
      if (e & PTE_PAT_LARGE) flags |= PTE_PAT_4K;
      volatile uint64_t* pt = pt_page;
      for (unsigned i = 0; i < 512; ++i) pt[i] = (base + (uint64_t)i * 4096) | flags;
      /* The PDE now points at the table; its C-bit as the leaf had it (the table is in the
       * guest's private memory when the guest is encrypted). */
      const uint64_t pt_gpa = (uint64_t)(uintptr_t)pt_page - va_offset;
      __asm__ volatile("" : : : "memory");
      e = pt_gpa | (e & 0x3F) | (e & (PTE_HIGH | cbit)); /* P RW US PWT PCD A */
      table[idx] = e;
    }
    table = (volatile uint64_t*)(uintptr_t)((e & addr) + va_offset);
  }
  const unsigned idx = (unsigned)(va >> 12) & 511;
  const uint64_t pte = table[idx];
  if (!(pte & PTE_P)) return GHCB_BAD_ARGUMENT;
  table[idx] = shared ? (pte & ~cbit) : (pte | cbit);
  return GHCB_OK;
}

#ifdef GHCB_GUEST_NATIVE
static uint64_t read_cr3(void) { return ghcb_native_read_cr3(); }
static void write_cr3(uint64_t v) { ghcb_native_write_cr3(v); }
static void clflush_page(uint64_t va) { (void)va; }
#else
static uint64_t read_cr3(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  return v;
}
static void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static void clflush_page(uint64_t va) {
  /* Lines cached through the encrypted mapping must not be written back over the page once it
   * is shared (Linux clflush_page before the C-bit change). 64-byte lines: ESTIMATE (CPUID 1
   * EBX[15:8] * 8 on every AMD part we know). */
  for (uint64_t a = va; a < va + 4096; a += 64)
    __asm__ volatile("clflush (%0)" : : "r"(a) : "memory");
}
#endif

enum ghcb_result ghcb_make_page_shared(struct ghcb_ctx* ctx, uint64_t va, int snp,
                                       uint64_t* pt_page) {
  if ((va & 0xFFF) != 0) return GHCB_BAD_ARGUMENT;
  clflush_page(va);
  if (snp) {
    /* Rescind, then PSC shared, one 4 KiB page (PLATFORM-FACTS 1.10). */
    const enum ghcb_result r = ghcb_msr_psc(ctx, va - ctx->va_offset, 1, GHCB_PSC_SHARED);
    if (r != GHCB_OK) return r;
  }
  const uint64_t cr3 = read_cr3();
  const enum ghcb_result r = ghcb_pt_set_shared(cr3, va, ctx->c_bit, 1, pt_page, ctx->va_offset);
  if (r != GHCB_OK) return r;
  write_cr3(cr3); /* flush the TLB (Linux write_cr3 after set_clr_page_flags) */
  return GHCB_OK;
}

enum ghcb_result ghcb_es_init(struct ghcb_ctx* ctx, struct ghcb* page, uint64_t* pt_page) {
  const uint64_t status = ghcb_sev_status();
  if (!(status & GHCB_SEV_STATUS_ES)) return GHCB_UNSUPPORTED;
  const int snp = (status & GHCB_SEV_STATUS_SNP) != 0;
  ctx->ghcb = NULL;
  ctx->ghcb_gpa = 0;
  enum ghcb_result r = ghcb_msr_sev_setup(ctx, snp);
  if (r != GHCB_OK) return r;
  const uint64_t va = (uint64_t)(uintptr_t)page;
  r = ghcb_make_page_shared(ctx, va, snp, pt_page);
  if (r != GHCB_OK) return r;
  /* The contents of a page whose encryption changed are undefined: start from zero. */
  volatile uint8_t* bytes = (volatile uint8_t*)page;
  for (size_t i = 0; i < sizeof *page; ++i) bytes[i] = 0;
  const uint64_t gpa = va - ctx->va_offset;
  if (snp && (r = ghcb_msr_register_ghcb(ctx, gpa)) != GHCB_OK) return r;
  ctx->ghcb = page;
  ctx->ghcb_gpa = gpa;
  return GHCB_OK;
}

#ifdef GHCB_GUEST_NATIVE
void ghcb_out_putc(char c) { ghcb_native_out(GHCB_CONSOLE_PORT, 1, (uint8_t)c); }
uint8_t ghcb_in_byte(uint16_t port) { return (uint8_t)ghcb_native_in(port, 1); }
void ghcb_cpuid_insn(uint32_t fn, uint32_t subfn, uint32_t out[4]) {
  ghcb_native_cpuid(fn, subfn, out);
}
#else
void ghcb_out_putc(char c) {
  /* OUT imm8, AL (E6 E9): raises #VC 0x7B in an SEV-ES guest. */
  __asm__ volatile("outb %0, %1" : : "a"((uint8_t)c), "i"(GHCB_CONSOLE_PORT) : "memory");
}
uint8_t ghcb_in_byte(uint16_t port) {
  uint8_t v;
  /* IN AL, DX (EC). */
  __asm__ volatile("inb %1, %0" : "=a"(v) : "d"(port) : "memory");
  return v;
}
void ghcb_cpuid_insn(uint32_t fn, uint32_t subfn, uint32_t out[4]) {
  uint32_t a = fn, b, c = subfn, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}
#endif

void ghcb_out_puts(const char* s) {
  for (; *s != '\0'; ++s) ghcb_out_putc(*s);
}

void ghcb_out_put_hex(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  ghcb_out_putc('0');
  ghcb_out_putc('x');
  for (int shift = 60; shift >= 0; shift -= 4) ghcb_out_putc(kDigits[(v >> shift) & 15]);
}
