// test/firmware/sev_fixture.cc: see sev_fixture.h.
#include "test/firmware/sev_fixture.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace snpemu::fw::test {
namespace {

template <class T>
std::span<const uint8_t> raw(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}
template <class T>
std::span<uint8_t> raw_mut(T& v) {
  return {reinterpret_cast<uint8_t*>(&v), sizeof v};
}

// [L sev-dev.c sev_cmd_buf_writable]
bool writable(CommandId id) {
  return id == CommandId::kPlatformStatus || id == CommandId::kGuestStatus ||
         id == CommandId::kLaunchStart || id == CommandId::kLaunchMeasure;
}

std::vector<Hpa> pages_of(const std::vector<FwRange>& ranges) {
  std::vector<Hpa> out;
  for (const FwRange& r : ranges) {
    if (r.len == 0) continue;
    for (uint64_t p = r.address.value >> kPageShift;
         p <= (r.address.value + r.len - 1) >> kPageShift; ++p) {
      if (std::find(out.begin(), out.end(), Hpa{p << kPageShift}) == out.end()) {
        out.push_back(Hpa{p << kPageShift});
      }
    }
  }
  return out;
}

}  // namespace

Status sev_command(Host& h, CommandId id, std::span<const uint8_t> in, std::span<uint8_t> out,
                   std::vector<FwRange> written) {
  std::vector<uint8_t> page(kPageSize, 0);
  std::copy_n(in.begin(), std::min(in.size(), page.size()), page.begin());
  h.write(kSevCmdBuf, page);
  const bool snp = h.fw->platform_state() == PlatformState::kInit;
  if (snp && writable(id)) written.push_back({kSevCmdBuf, in.size()});
  const std::vector<Hpa> fw_pages = snp ? pages_of(written) : std::vector<Hpa>{};
  for (Hpa p : fw_pages) {
    if (h.make_firmware(p) != rmp::RmpRc::kSuccess) std::abort();
  }
  const Status st = h.fw->command(id, kSevCmdBuf);
  if (!out.empty()) {
    const std::vector<uint8_t> back = h.read(kSevCmdBuf, out.size());
    std::copy(back.begin(), back.end(), out.begin());
  }
  for (Hpa p : fw_pages) {
    if (h.reclaim(p) != Status::kSuccess || h.make_shared(p) != rmp::RmpRc::kSuccess) std::abort();
  }
  return st;
}

Status sev_init(Host& h, bool es, Hpa tmr) {
  SevDataInit c;
  c.flags = es ? kSevInitFlagsSevEs : 0;
  c.tmr_address = es ? tmr.value : 0;
  c.tmr_len = !es                                              ? 0
              : h.fw->platform_state() == PlatformState::kInit ? static_cast<uint32_t>(kSnpTmrSize)
                                                               : static_cast<uint32_t>(kSevTmrSize);
  return sev_command(h, CommandId::kInit, raw(c));
}

Status sev_shutdown(Host& h) { return sev_command(h, CommandId::kShutdown, {}); }

Status sev_df_flush(Host& h) {
  h.fw->note_wbinvd_all_cpus();
  return sev_command(h, CommandId::kDfFlush, {});
}

std::expected<SevDataPlatformStatus, Status> sev_platform_status(Host& h) {
  SevDataPlatformStatus s;
  const Status st = sev_command(h, CommandId::kPlatformStatus, raw(s), raw_mut(s));
  if (st != Status::kSuccess) return std::unexpected(st);
  return s;
}

std::expected<uint32_t, Status> sev_launch_start(Host& h, uint32_t policy) {
  SevDataLaunchStart c;
  c.policy = policy;
  const Status st = sev_command(h, CommandId::kLaunchStart, raw(c), raw_mut(c));
  if (st != Status::kSuccess) return std::unexpected(st);
  return c.handle;
}

Status sev_activate(Host& h, uint32_t handle, Asid asid) {
  return sev_command(h, CommandId::kActivate, raw(SevDataActivate{handle, asid.value}));
}

Status sev_deactivate(Host& h, uint32_t handle) {
  return sev_command(h, CommandId::kDeactivate, raw(SevDataHandle{handle}));
}

Status sev_decommission(Host& h, uint32_t handle) {
  return sev_command(h, CommandId::kDecommission, raw(SevDataHandle{handle}));
}

std::expected<SevDataGuestStatus, Status> sev_guest_status(Host& h, uint32_t handle) {
  SevDataGuestStatus s;
  s.handle = handle;
  const Status st = sev_command(h, CommandId::kGuestStatus, raw(s), raw_mut(s));
  if (st != Status::kSuccess) return std::unexpected(st);
  return s;
}

Status sev_launch_update_data(Host& h, uint32_t handle, Hpa address, uint32_t len) {
  SevDataLaunchUpdate c;
  c.handle = handle;
  c.address = address.value;
  c.len = len;
  return sev_command(h, CommandId::kLaunchUpdateData, raw(c), {}, {{address, len}});
}

Status sev_launch_update_vmsa(Host& h, uint32_t handle, Hpa vmsa_page) {
  SevDataLaunchUpdate c;
  c.handle = handle;
  c.address = vmsa_page.value;
  c.len = kPageSize;
  return sev_command(h, CommandId::kLaunchUpdateVmsa, raw(c), {}, {{vmsa_page, kPageSize}});
}

std::expected<SevMeasurementBlob, Status> sev_launch_measure(Host& h, uint32_t handle, Hpa out,
                                                             uint32_t len) {
  SevDataLaunchMeasure c;
  c.handle = handle;
  c.address = out.value;
  c.len = len;
  const Status st =
      sev_command(h, CommandId::kLaunchMeasure, raw(c), {}, {{out, sizeof(SevMeasurementBlob)}});
  if (st != Status::kSuccess) return std::unexpected(st);
  SevMeasurementBlob blob;
  const std::vector<uint8_t> bytes = h.read(out, sizeof blob);
  std::memcpy(&blob, bytes.data(), sizeof blob);
  return blob;
}

Status sev_launch_finish(Host& h, uint32_t handle) {
  return sev_command(h, CommandId::kLaunchFinish, raw(SevDataHandle{handle}));
}

SevLaunch launch_sev(Host& h, uint32_t policy, Asid asid, const SevImage& image, Hpa measure_out) {
  SevLaunch r;
  auto fail = [&r](CommandId id, Status st) {
    r.failed = id;
    r.status = st;
    return r;
  };
  for (const auto& [hpa, bytes] : image.data) h.write(hpa, bytes);
  for (const auto& [hpa, bytes] : image.vmsas) h.write(hpa, bytes);
  auto handle = sev_launch_start(h, policy);
  if (!handle) return fail(CommandId::kLaunchStart, handle.error());
  r.handle = *handle;
  if (Status s = sev_activate(h, r.handle, asid); s != Status::kSuccess) {
    return fail(CommandId::kActivate, s);
  }
  for (const auto& [hpa, bytes] : image.data) {
    const Status s = sev_launch_update_data(h, r.handle, hpa, static_cast<uint32_t>(bytes.size()));
    if (s != Status::kSuccess) return fail(CommandId::kLaunchUpdateData, s);
  }
  for (const auto& [hpa, bytes] : image.vmsas) {
    if (Status s = sev_launch_update_vmsa(h, r.handle, hpa); s != Status::kSuccess) {
      return fail(CommandId::kLaunchUpdateVmsa, s);
    }
  }
  auto blob = sev_launch_measure(h, r.handle, measure_out);
  if (!blob) return fail(CommandId::kLaunchMeasure, blob.error());
  r.blob = *blob;
  if (Status s = sev_launch_finish(h, r.handle); s != Status::kSuccess) {
    return fail(CommandId::kLaunchFinish, s);
  }
  return r;
}

}  // namespace snpemu::fw::test
