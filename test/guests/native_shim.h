// test/guests/native_shim.h: runs guest code natively inside a test binary.
//
// Guests built with -DGUEST_NATIVE (the `<name>_native` libraries of guest_elf) call
// guest_putc, which this shim appends to a buffer; take_native_output returns and clears it.
#pragma once

#include <string>

namespace snpemu::test {

/// Returns everything native guests printed since the last call, and clears it.
std::string take_native_output();

}  // namespace snpemu::test
