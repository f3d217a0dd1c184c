// firmware/report_build.cc: the report a guest gets for MSG_REPORT_REQ, signed by the model VCEK.
#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

std::expected<AttestationReport, FwError> build_signed_report(
    const ReportInputs& in, const std::array<uint8_t, 64>& report_data, uint32_t requested_vmpl,
    Vmpl key_vmpl, const ModelVcek& vcek) {
  // MSG_REPORT_REQ.VMPL must be in [VMPL of the VMPCK used, 3]: a guest cannot obtain a report
  // claiming more privilege than its key proves. (PLATFORM-FACTS 8.6; status UNCONFIRMED)
  if (requested_vmpl > 3 || requested_vmpl < key_vmpl.value) {
    return std::unexpected(ossl::error(ErrorKind::kBadField, Status::kInvalidParam,
                                       "report requested for VMPL " +
                                           std::to_string(requested_vmpl) + " under VMPCK" +
                                           std::to_string(key_vmpl.value) + " (must be in [" +
                                           std::to_string(key_vmpl.value) + ", 3])"));
  }
  AttestationReport r;
  r.version = kReportVersionModel;
  r.guest_svn = in.guest_svn;
  r.policy = in.policy;
  r.family_id = in.family_id;
  r.image_id = in.image_id;
  r.vmpl = requested_vmpl;
  r.platform_version = in.platform_version;
  r.platform_info = in.platform_info;
  // FLAGS: AUTHOR_KEY_EN bit 0; SIGNING_KEY (bits 4:2) = 0, the VCEK. PLATFORM-FACTS 8.6, 11.8.
  r.flags = (in.author_key_en ? kReportFlagAuthorKeyEn : 0u) | (kSigningKeyVcek << 2);
  r.report_data = report_data;
  r.measurement = in.measurement;
  r.host_data = in.host_data;
  r.id_key_digest = in.id_key_digest;
  if (in.author_key_en) r.author_key_digest = in.author_key_digest;
  r.report_id = in.report_id;
  r.report_id_ma = in.report_id_ma;
  r.reported_tcb = in.reported_tcb;
  r.cpuid_fam_id = in.cpuid_fam_id;
  r.cpuid_mod_id = in.cpuid_mod_id;
  r.cpuid_step = in.cpuid_step;
  if (!in.mask_chip_id) r.chip_id = in.chip_id;
  r.committed_tcb = in.committed_tcb;
  r.current_build = in.current_build;
  r.current_minor = in.current_minor;
  r.current_major = in.current_major;
  r.committed_build = in.committed_build;
  r.committed_minor = in.committed_minor;
  r.committed_major = in.committed_major;
  r.launch_tcb = in.launch_tcb;
  if (auto s = vcek.sign_report(r); !s) return std::unexpected(s.error());
  return r;
}

}  // namespace snpemu::fw
