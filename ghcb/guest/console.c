/* ghcb/guest/console.c: a console for SEV-ES/SNP guests. A plain OUT raises #VC in such a guest
 * (IOIO is not an automatic exit), so bytes go through the GHCB IOIO NAE event (0x7B) to the
 * debug port 0xE9, the same port test/guests/lib/guest.h writes directly. */
#include "ghcb/guest/ghcb_guest.h"

enum ghcb_result ghcb_console_putc(struct ghcb_ctx* ctx, char c) {
  return ghcb_io_out(ctx, GHCB_CONSOLE_PORT, 1, (uint8_t)c);
}

enum ghcb_result ghcb_console_puts(struct ghcb_ctx* ctx, const char* s) {
  for (; *s != '\0'; ++s) {
    const enum ghcb_result r = ghcb_console_putc(ctx, *s);
    if (r != GHCB_OK) return r;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_console_put_hex(struct ghcb_ctx* ctx, uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  char buf[19];
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 16; ++i) buf[2 + i] = kDigits[(v >> (60 - 4 * i)) & 15];
  buf[18] = '\0';
  return ghcb_console_puts(ctx, buf);
}

enum ghcb_result ghcb_console_exit(struct ghcb_ctx* ctx, uint32_t value) {
  return ghcb_io_out(ctx, GHCB_EXIT_PORT, 4, value);
}
