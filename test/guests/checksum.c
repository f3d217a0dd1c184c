/* test/guests/checksum.c: CRC-32 (bitwise, reflected 0xEDB88320) and FNV-1a over a
 * pseudo-random buffer; exercises shifts, xor, loads/stores, loops and calls. */
#include "test/guests/lib/guest.h"

static uint8_t buffer[8192];

static uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001B3ull;
  }
  return h;
}

long guest_main(void) {
  uint64_t x = 0x9E3779B97F4A7C15ull;  /* xorshift64 with a fixed seed */
  for (size_t i = 0; i < sizeof buffer; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buffer[i] = (uint8_t)(x >> 24);
  }
  guest_puts("crc32 ");
  guest_put_hex(crc32(buffer, sizeof buffer));
  guest_puts("\nfnv1a ");
  guest_put_hex(fnv1a(buffer, sizeof buffer));
  guest_puts("\ncrc32(\"123456789\") ");
  guest_put_hex(crc32((const uint8_t*)"123456789", 9));
  guest_putc('\n');
  return 0;
}
