// emu/kvm/psp.cc: the hypervisor's AMD-SP driver (see kvm.h, class Psp). Source: Linux
// drivers/crypto/ccp/sev-dev.c (__sev_do_cmd_locked: the buffer is copied into a driver page,
// the command id written to the mailbox, the status polled, output copied back).
#include "base/hex.h"
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {

hv::KvmResult<void> Psp::command(fw::CommandId id, std::span<const uint8_t> in, cpu::Core& core,
                                 std::span<uint8_t> out) {
  if (in.size() > kPageSize || out.size() > kPageSize) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEinval, "command buffer larger than a page"});
  }
  // The driver's buffer page: the command's bytes, the rest zero (stale bytes of an earlier
  // command must not reach the firmware as reserved fields).
  std::array<uint8_t, kPageSize> page{};
  std::copy(in.begin(), in.end(), page.begin());
  if (!mem_.write(buffer_, page)) {
    return std::unexpected(hv::KvmError{hv::KvmErrno::kEio, "PSP command buffer at " + hex(buffer_.value) + " is outside RAM"});
  }
  last_status_ = fw_.command(id, buffer_);
  const fw::CommandWork& w = fw_.last_work();
  core.account(cpu::Cost::kPspCommand);
  core.account(cpu::Cost::kPspRmpAccess, uint64_t{w.rmp_reads} + w.rmp_writes);
  core.account(cpu::Cost::kPspPageHash, w.pages_hashed);
  core.account(cpu::Cost::kPspDigestStep, w.digest_steps);
  core.account(cpu::Cost::kPspPageWrite, w.pages_written);
  core.account(cpu::Cost::kPspPageEncrypt, w.pages_encrypted);
  core.account(cpu::Cost::kPspSign, w.signatures);
  core.account(cpu::Cost::kPspAead, w.aead_messages);
  if (!out.empty()) (void)mem_.read(buffer_, out);
  if (last_status_ != fw::Status::kSuccess) {
    return std::unexpected(hv::KvmError{
        hv::KvmErrno::kEio, std::string(fw::command_name(id)) + " failed with " +
                                std::string(fw::status_name(last_status_)) +
                                (fw_.last_error().empty() ? "" : ": " + fw_.last_error())});
  }
  return {};
}

}  // namespace snpemu::kvm
