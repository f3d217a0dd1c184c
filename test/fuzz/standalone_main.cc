// test/fuzz/standalone_main.cc: runs a libFuzzer entry point without libFuzzer.
//
//   <target> FILE...                       runs each file once (reproduce a crash)
//   <target> --runs=N --seed=S --max-len=L  runs N inputs from a seeded generator
// The generator is splitmix64 from an explicit seed: the same flags give the same inputs on any
// host. The seed is printed first so any failure can be reproduced.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test/util/splitmix64.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {


bool parse_flag(const char* arg, const char* name, uint64_t* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  char* end = nullptr;
  *value = std::strtoull(arg + n + 1, &end, 10);
  if (end == arg + n + 1 || *end != '\0') {
    std::fprintf(stderr, "bad value in '%s'\n", arg);
    std::exit(2);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 1000, seed = 1, max_len = 4096;
  std::vector<const char*> files;
  for (int i = 1; i < argc; ++i) {
    if (parse_flag(argv[i], "--runs", &runs) || parse_flag(argv[i], "--seed", &seed) ||
        parse_flag(argv[i], "--max-len", &max_len)) {
      continue;
    }
    if (argv[i][0] == '-') {
      std::fprintf(stderr, "unknown option '%s'\n", argv[i]);
      return 2;
    }
    files.push_back(argv[i]);
  }
  if (!files.empty()) {
    for (const char* path : files) {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "cannot read '%s'\n", path);
        return 2;
      }
      std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), {});
      std::fprintf(stderr, "running %s (%zu bytes)\n", path, data.size());
      LLVMFuzzerTestOneInput(data.data(), data.size());
    }
    return 0;
  }
  std::fprintf(stderr, "standalone fuzz driver: seed=%llu runs=%llu max-len=%llu\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(runs),
               static_cast<unsigned long long>(max_len));
  snpemu::test::SplitMix64 rng(seed);
  std::vector<uint8_t> data;
  for (uint64_t r = 0; r < runs; ++r) {
    data.resize(max_len == 0 ? 0 : rng.next() % (max_len + 1));
    for (size_t i = 0; i < data.size(); i += 8) {
      const uint64_t w = rng.next();
      std::memcpy(data.data() + i, &w, std::min<size_t>(8, data.size() - i));
    }
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::fprintf(stderr, "ok: %llu inputs\n", static_cast<unsigned long long>(runs));
  return 0;
}
