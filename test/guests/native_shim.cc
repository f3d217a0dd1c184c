// test/guests/native_shim.cc
#include "test/guests/native_shim.h"

namespace snpemu::test {
std::string& native_output();
}

namespace snpemu::test {

// Process-wide because guest_putc is a plain C function; tests drain it after every guest run.
std::string& native_output() {
  static std::string out;
  return out;
}

std::string take_native_output() {
  std::string out;
  out.swap(native_output());
  return out;
}

}  // namespace snpemu::test

extern "C" void guest_putc(char c) { snpemu::test::native_output().push_back(c); }
