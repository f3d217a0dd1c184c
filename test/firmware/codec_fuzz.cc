// libFuzzer entry point for the firmware codecs: attestation report, command buffers, guest
// messages, ID block checks, firmware public keys and the launch digest. Byte 0 picks the codec,
// byte 1 asks for light repairs (valid version, algorithm, header fields) so that inputs get past
// the first checks; the rest is the input. Any broken invariant traps (a crash for the fuzzer).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "firmware/firmware.h"

namespace {

using namespace snpemu;
using namespace snpemu::fw;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class Parse>
void round_trip(std::span<const uint8_t> in, size_t size, Parse parse, bool exact) {
  auto v = parse(in);
  if (!v) {
    check(!v.error().message.empty());
    return;
  }
  auto bytes = serialize(*v);
  check(bytes.size() == size);
  if (exact) check(std::memcmp(bytes.data(), in.data(), size) == 0);
  auto again = parse(bytes);
  check(again.has_value() && serialize(*again) == bytes);
}

void fuzz_report(std::vector<uint8_t> in, uint8_t repair) {
  if (in.size() >= kReportSize && (repair & 1)) {
    in[0] = static_cast<uint8_t>(2 + repair % 4), in[1] = in[2] = in[3] = 0;
    in[0x34] = 1, in[0x35] = in[0x36] = in[0x37] = 0;
    in[0x30] &= 3, in[0x31] = in[0x32] = in[0x33] = 0;
    if (repair & 2) in.resize(kReportSize);
  }
  auto r = parse_report(in);
  if (!r) return;
  check(in.size() == kReportSize);
  auto out = serialize_report(*r);
  check(std::memcmp(out.data(), in.data(), kReportSize) == 0);
  auto rsp = parse_report_rsp(in);
  if (rsp && rsp->status == 0) check(rsp->report_size == kReportSize);
}

void fuzz_guest_msg(std::vector<uint8_t> in, uint8_t repair) {
  if (in.size() >= kMsgHeaderSize && (repair & 1)) {
    in[0x30] = 1, in[0x31] = 1, in[0x32] = 0x60, in[0x33] = 0, in[0x3C] &= 3;
    const uint16_t sz = static_cast<uint16_t>(std::min<size_t>(in.size() - 0x60, repair * 13));
    std::memcpy(in.data() + 0x36, &sz, 2);
    if (repair & 2) std::memset(in.data() + 0x20, 0, 8), in[0x20] = 1;  // seqno 1
  }
  std::array<Vmpck, 4> keys{};
  GuestChannel fw(keys);
  auto opened = fw.open_request(in);
  const auto h = parse_msg_header(in);
  // The counter moves (by two) only when a request was accepted.
  check(fw.counter(h ? h->msg_vmpck : 0) == (opened ? 2u : 0u));
  if (opened) check(fw.seal_response(opened->header, opened->payload).has_value());
  auto direct = open_message(keys[0], in);
  if (direct) check(direct->payload.size() == direct->header.msg_sz);
}

void fuzz_id_block(std::span<const uint8_t> in) {
  if (in.size() < sizeof(IdBlock) + sizeof(IdAuth)) return;
  auto block = parse_id_block(in.first(sizeof(IdBlock)));
  auto auth = parse_id_auth(in.subspan(sizeof(IdBlock), sizeof(IdAuth)));
  check(block.has_value() && auth.has_value());
  auto r = check_id_block(*block, *auth, in[0] & 1, block->ld, block->policy);
  if (r) check(r->id_key_digest == key_digest(auth->id_key));
}

void fuzz_public_key(std::span<const uint8_t> in) {
  if (in.size() < sizeof(SnpPublicKey)) return;
  SnpPublicKey k;
  std::memcpy(static_cast<void*>(&k), in.data(), sizeof(k));
  auto key = from_snp_public_key(k);
  if (!key) return;
  auto back = to_snp_public_key(*key);
  check(back.has_value() && back->qx == k.qx && back->qy == k.qy);
}

void fuzz_launch_digest(std::span<const uint8_t> in) {
  LaunchDigest ld;
  std::vector<uint8_t> page(kPageSize, 0);
  for (size_t i = 0; i + 9 <= in.size() && i < 9 * 32; i += 9) {
    uint64_t gpa;
    std::memcpy(&gpa, in.data() + i + 1, 8);
    if (in[i] & 0x80) gpa &= 0xFFFF'FFFF'F000;
    page[i % kPageSize] ^= in[i];
    const Digest384 before = ld.digest();
    auto r = ld.update(static_cast<PageType>(in[i] & 7), Gpa{gpa}, page);
    check(r.has_value() ? ld.digest() != before : ld.digest() == before);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t repair = data[1];
  std::span<const uint8_t> in(data + 2, size - 2);
  std::vector<uint8_t> copy(in.begin(), in.end());
  switch (data[0] % 12) {
    case 0:
      fuzz_report(copy, repair);
      break;
    case 1:
      round_trip(in, CmdLaunchStart::kSize, parse_cmd_launch_start, true);
      break;
    case 2:
      round_trip(in, CmdLaunchUpdate::kSize, parse_cmd_launch_update, true);
      break;
    case 3:
      round_trip(in, CmdLaunchFinish::kSize, parse_cmd_launch_finish, true);
      break;
    case 4:
      round_trip(in, CmdInitEx::kSize, parse_cmd_init_ex, false);
      break;
    case 5:
      round_trip(in, CmdPageAddr::kSize, parse_cmd_page_addr, true);
      break;
    case 6:
      round_trip(in, CmdShutdownEx::kSize, parse_cmd_shutdown_ex, true);
      break;
    case 7:
      fuzz_guest_msg(copy, repair);
      break;
    case 8:
      fuzz_id_block(in);
      break;
    case 9:
      fuzz_public_key(in);
      break;
    case 10:
      fuzz_launch_digest(in);
      break;
    case 11:
      (void)parse_report_req(in);
      (void)parse_secrets_page(in);
      (void)parse_cmd_activate(in);
      (void)parse_cmd_gctx_addrs(in, 2 + (repair & 1));
      (void)Certificate::from_der(in);
      break;
  }
  return 0;
}
