// cpu/svm/exit_code.h: SVM #VMEXIT codes (VMCB exit_code, 0x070), as a table.
//
// Sources: Linux arch/x86/include/uapi/asm/svm.h SVM_EXIT_* [L]; PLATFORM-FACTS 5.2. Codes the
// read uapi copy lacks are tagged with where they come from. Included by cpu/svm/svm.h.
// Names: the uapi name without the SVM_EXIT_ prefix, in kPascalCase; exit_code_name() returns
// the APM-style VMEXIT_* spelling.
#pragma once

#include <cstdint>

namespace snpemu::svm {

enum class ExitCode : uint64_t {
  kReadCr0 = 0x000,  // CR reads: 0x000 + n (n = 0..15), see exit_read_cr()
  kReadCr2 = 0x002,
  kReadCr3 = 0x003,
  kReadCr4 = 0x004,
  kReadCr8 = 0x008,
  kWriteCr0 = 0x010,  // CR writes: 0x010 + n
  kWriteCr2 = 0x012,
  kWriteCr3 = 0x013,
  kWriteCr4 = 0x014,
  kWriteCr8 = 0x018,
  kReadDr0 = 0x020,  // DR reads: 0x020 + n
  kReadDr7 = 0x027,
  kWriteDr0 = 0x030,  // DR writes: 0x030 + n
  kWriteDr7 = 0x037,
  kExcpBase = 0x040,  // exceptions: 0x040 + vector
  kLastExcp = 0x05F,
  kIntr = 0x060,
  kNmi = 0x061,
  kSmi = 0x062,
  kInit = 0x063,
  kVintr = 0x064,
  kCr0SelWrite = 0x065,
  kIdtrRead = 0x066,
  kGdtrRead = 0x067,
  kLdtrRead = 0x068,
  kTrRead = 0x069,
  kIdtrWrite = 0x06A,
  kGdtrWrite = 0x06B,
  kLdtrWrite = 0x06C,
  kTrWrite = 0x06D,
  kRdtsc = 0x06E,
  kRdpmc = 0x06F,
  kPushf = 0x070,
  kPopf = 0x071,
  kCpuid = 0x072,
  kRsm = 0x073,
  kIret = 0x074,
  kSwint = 0x075,
  kInvd = 0x076,
  kPause = 0x077,
  kHlt = 0x078,
  kInvlpg = 0x079,
  kInvlpga = 0x07A,
  kIoio = 0x07B,
  kMsr = 0x07C,
  kTaskSwitch = 0x07D,
  kFerrFreeze = 0x07E,
  kShutdown = 0x07F,
  kVmrun = 0x080,
  kVmmcall = 0x081,
  kVmload = 0x082,
  kVmsave = 0x083,
  kStgi = 0x084,
  kClgi = 0x085,
  kSkinit = 0x086,
  kRdtscp = 0x087,
  kIcebp = 0x088,
  kWbinvd = 0x089,
  kMonitor = 0x08A,
  kMwait = 0x08B,
  kMwaitCond = 0x08C,
  kXsetbv = 0x08D,
  kRdpru = 0x08E,
  kEferWriteTrap = 0x08F,  // PLATFORM-FACTS 5.2 [L] (svm.c handler table)
  kCr0WriteTrap = 0x090,   // CRn write traps: 0x090 + n
  kCr4WriteTrap = 0x094,
  kCr8WriteTrap = 0x098,
  kCr15WriteTrap = 0x09F,
  kInvlpgb = 0x0A0,         // [3P] third-party SVM header; UNCONFIRMED in Linux uapi
  kInvlpgbIllegal = 0x0A1,  // [3P]; UNCONFIRMED
  kInvpcid = 0x0A2,         // [L]
  kMcommit = 0x0A3,         // [3P]; UNCONFIRMED
  kTlbsync = 0x0A4,         // [3P]; UNCONFIRMED
  kBusLock = 0x0A5,         // [L-patch] PLATFORM-FACTS 5.2
  kIdleHlt = 0x0A6,         // [L-patch] PLATFORM-FACTS 5.2
  kNpf = 0x400,
  kAvicIncompleteIpi = 0x401,
  kAvicUnacceleratedAccess = 0x402,
  kVmgexit = 0x403,  // [L] uapi (newer copy than the one without it)
  kPmlFull = 0x407,  // [L-patch]
  // UNCONFIRMED (APM vol 2 15.36, from memory): VMRUN of an SNP VMSA that is already running on
  // another CPU ends with VMEXIT_BUSY (-2). Kept so the core has a name for it.
  kBusy = 0xFFFF'FFFF'FFFF'FFFEull,
  kInvalid = 0xFFFF'FFFF'FFFF'FFFFull,  // VMEXIT_INVALID = -1 (uapi SVM_EXIT_ERR)
};

constexpr uint64_t to_u64(ExitCode c) { return static_cast<uint64_t>(c); }
constexpr ExitCode exit_read_cr(unsigned n) { return ExitCode(0x000 + (n & 15)); }
constexpr ExitCode exit_write_cr(unsigned n) { return ExitCode(0x010 + (n & 15)); }
constexpr ExitCode exit_read_dr(unsigned n) { return ExitCode(0x020 + (n & 15)); }
constexpr ExitCode exit_write_dr(unsigned n) { return ExitCode(0x030 + (n & 15)); }
constexpr ExitCode exit_exception(unsigned vector) { return ExitCode(0x040 + (vector & 31)); }
constexpr ExitCode exit_cr_write_trap(unsigned n) { return ExitCode(0x090 + (n & 15)); }

}  // namespace snpemu::svm
