/* test/guests/sort.c: sorts signed 64-bit values with heapsort and insertion sort, checks
 * they agree and are ordered, and prints a digest; exercises compares, signed branches,
 * indexing, multiplication and division. */
#include "test/guests/lib/guest.h"

#define N 2000
static int64_t a[N];
static int64_t b[N];

static void sift_down(int64_t* v, long start, long end) {
  long root = start;
  while (2 * root + 1 <= end) {
    long child = 2 * root + 1;
    long swap = root;
    if (v[swap] < v[child]) swap = child;
    if (child + 1 <= end && v[swap] < v[child + 1]) swap = child + 1;
    if (swap == root) return;
    int64_t t = v[root];
    v[root] = v[swap];
    v[swap] = t;
    root = swap;
  }
}

static void heapsort(int64_t* v, long n) {
  for (long start = (n - 2) / 2; start >= 0; --start) sift_down(v, start, n - 1);
  for (long end = n - 1; end > 0; --end) {
    int64_t t = v[end];
    v[end] = v[0];
    v[0] = t;
    sift_down(v, 0, end - 1);
  }
}

static void insertion_sort(int64_t* v, long n) {
  for (long i = 1; i < n; ++i) {
    int64_t key = v[i];
    long j = i - 1;
    while (j >= 0 && v[j] > key) {
      v[j + 1] = v[j];
      --j;
    }
    v[j + 1] = key;
  }
}

long guest_main(void) {
  uint64_t x = 88172645463325252ull;
  for (long i = 0; i < N; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    a[i] = (int64_t)x / 1000003;  /* signed division of mixed-sign values */
    b[i] = a[i];
  }
  heapsort(a, N);
  insertion_sort(b, N);
  uint64_t digest = 0;
  for (long i = 0; i < N; ++i) {
    if (a[i] != b[i]) {
      guest_puts("mismatch at ");
      guest_put_dec((uint64_t)i);
      guest_putc('\n');
      return 1;
    }
    if (i > 0 && a[i - 1] > a[i]) {
      guest_puts("unsorted\n");
      return 2;
    }
    digest = digest * 31 + (uint64_t)a[i];
  }
  guest_puts("sorted ");
  guest_put_dec(N);
  guest_puts(" min ");
  guest_put_hex((uint64_t)a[0]);
  guest_puts(" max ");
  guest_put_hex((uint64_t)a[N - 1]);
  guest_puts(" digest ");
  guest_put_hex(digest);
  guest_putc('\n');
  return 0;
}
