// cpu/timing/cost.h: cost classes and the per-profile timing table.
//
// Every cycle the core charges comes from a TimingTable row; no other file holds a cycle count.
// Each row carries the source of its number (a vendor guide or a published measurement) or an
// "ESTIMATE:" tag saying why it is a guess; test/cpu/timing_test.cc rejects rows without one.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace snpemu::cpu {

/// What an instruction or event costs, by class. Decode-table rows name one class each.
enum class Cost : uint8_t {
  kAlu,          // simple integer op, register operands
  kMov,          // register move / immediate load
  kLea,          // address generation
  kL1Load,       // extra latency of a memory source operand (L1 hit)
  kStore,        // extra cost of a memory destination
  kLocked,       // extra cost of a LOCKed read-modify-write (and XCHG with memory)
  kImul,         // IMUL r, r/m (, imm)
  kMulWide,      // MUL / IMUL with RDX:RAX result
  kDiv8,         // DIV/IDIV r/m8
  kDiv16,        // DIV/IDIV r/m16
  kDiv32,        // DIV/IDIV r/m32
  kDiv64,        // DIV/IDIV r/m64
  kShift,        // shift or rotate (imm or 1)
  kShiftCl,      // shift or rotate by CL
  kRotateCarry,  // RCL / RCR
  kDoubleShift,  // SHLD / SHRD
  kBitScan,      // BSF / BSR / TZCNT / LZCNT / POPCNT
  kBitTest,      // BT / BTS / BTR / BTC
  kBranch,       // Jcc / JMP / LOOP (taken or not)
  kCall,         // CALL / RET
  kIndirect,     // indirect JMP / CALL
  kPush,         // PUSH / POP
  kStringIter,   // one iteration of a string instruction
  kCmpxchg16b,   // CMPXCHG16B
  kFlagsOp,      // PUSHF / POPF / LAHF / SAHF / CLC ... CLD / STD
  kCliSti,       // CLI / STI
  kCpuid,        // CPUID
  kRdtsc,        // RDTSC / RDTSCP
  kMsr,          // RDMSR / WRMSR
  kMovCr,        // MOV to / from a control register
  kDescTable,    // LGDT / LIDT / LTR / SGDT / SIDT / LLDT
  kInvlpg,       // INVLPG
  kIo,           // IN / OUT to a port (one transfer)
  kHlt,          // HLT (until the next event)
  kSyscall,      // SYSCALL / SYSRET / SWAPGS
  kIntDelivery,  // exception or interrupt delivery through the IDT (64-bit gate)
  kIret,         // IRETQ
  kFence,        // LFENCE / SFENCE / MFENCE
  kPause,        // PAUSE
  kUnmodelled,   // decoded but not executed yet (SVM / SNP instructions)
  kWalkStep,     // one page-table entry read of a TLB-miss walk (guest, host or nested table)
  kVmrun,        // VMRUN world switch into the guest (checks, state load, ASID switch)
  kVmexit,       // #VMEXIT world switch back to the host (state save, host state load)
  kVmload,       // VMLOAD
  kVmsave,       // VMSAVE
  kGif,          // STGI / CLGI
  kRmpCheck,     // one RMP check on a TLB fill (final access or guest table entry)
  kPvalidate,    // PVALIDATE
  kRmpadjust,    // RMPADJUST
  kRmpupdate,    // RMPUPDATE
  kPsmash,       // PSMASH
  kRmpread,      // RMPREAD
  // The hypervisor and VMM models are C++ code; their work is charged to the core they run on
  // (Core::account) from these rows, by the path that ran.
  kHvExitDispatch,   // svm_handle_exit: read the exit, dispatch, complete interrupts
  kHvCpuid,          // kvm_emulate_cpuid + skip the instruction
  kHvMsr,            // an emulated RDMSR / WRMSR
  kHvPio,            // an in-kernel port access (debug console, UART)
  kHvPioElement,     // one element of in-kernel string I/O
  kHvNpfMap,         // NPF: fault the page in and map it in the NPT
  kHvHypercall,      // a KVM hypercall answered in the kernel
  kHvSimple,         // any other exit handled in the kernel (skip, inject, re-enter)
  kHvUserspaceExit,  // KVM_RUN returning to the VMM and the VMM entering KVM_RUN again
  kHvGhcbMap,        // SEV-ES: map the GHCB, copy it in and the answer back (per GHCB-page exit)
  // The AMD-SP (firmware/) works while the issuing core waits (the PSP driver polls): a command
  // is charged to that core from its fw::CommandWork counts.
  kPspCommand,       // one mailbox command round trip (doorbell, PSP wake-up, status, polling)
  kPspRmpAccess,     // one RMP entry read or written by the firmware
  kPspPageHash,      // SHA-384 over one 4 KiB page (LAUNCH_UPDATE contents)
  kPspDigestStep,    // SHA-384 over one PAGE_INFO (the launch digest chain)
  kPspPageWrite,     // one 4 KiB page written by the firmware (zero, secrets, CPUID, in place)
  kPspPageEncrypt,   // one 4 KiB page passed through the guest's VEK
  kPspSign,          // one ECDSA P-384 signature (attestation report)
  kPspAead,          // one AES-256-GCM seal or open of a guest message
  kCount,
};

/// One row of a timing table: cycles and where the number comes from.
struct CostRow {
  Cost cost;
  uint32_t cycles;
  std::string_view source;  // citation, or "ESTIMATE: why"
};

using TimingTable = std::array<CostRow, static_cast<size_t>(Cost::kCount)>;

/// The Zen 4 (family 19h models 10h-1Fh, "Genoa") profile.
const TimingTable& zen4_timing();

}  // namespace snpemu::cpu
