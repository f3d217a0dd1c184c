/* test/guests/lib/guest.h: the tiny runtime freestanding test guests link.
 *
 * A guest defines `long guest_main(void)`; the start-up code (start.S) calls it with a stack
 * and writes its return value to the isa-debug-exit port (0xF4), so `snpemu exec` exits with
 * status (value << 1) | 1 as QEMU does. Output goes byte by byte to the debug port 0xE9.
 *
 * Built with -DGUEST_NATIVE the same source runs natively inside a test binary: port output
 * goes to a buffer the test reads, so emulated and native results can be compared.
 */
#ifndef SNPEMU_TEST_GUESTS_GUEST_H_
#define SNPEMU_TEST_GUESTS_GUEST_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GUEST_DEBUG_PORT 0xE9u
#define GUEST_EXIT_PORT 0xF4u

long guest_main(void);

#ifdef GUEST_NATIVE
void guest_putc(char c);
#else
static inline void guest_outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline void guest_putc(char c) { guest_outb(GUEST_DEBUG_PORT, (uint8_t)c); }
#endif

static inline void guest_puts(const char* s) {
  while (*s != '\0') guest_putc(*s++);
}

static inline void guest_put_hex(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  guest_putc('0');
  guest_putc('x');
  for (int shift = 60; shift >= 0; shift -= 4) guest_putc(kDigits[(v >> shift) & 15]);
}

static inline void guest_put_dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) guest_putc(buf[--n]);
}

/* gcc may emit calls to these even in freestanding code (struct copies, zeroing). */
void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
void* memmove(void* dst, const void* src, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SNPEMU_TEST_GUESTS_GUEST_H_ */
