// SNP guests end to end under `snpemu run` (emu/vmm/snp_boot.h): the VMM launches the image
// through KVM's SNP launch and the AMD-SP, which measures and encrypts it; the guest then runs
// from its launched VMSA with every access RMP-checked, makes its GHCB shared through a Page
// State Change (forwarded to the VMM as KVM_HC_MAP_GPA_RANGE, the guest_memfd page returned to
// the hypervisor), talks through the GHCB and terminates. The launch measurement equals the one
// `snpemu measure` computes for the same image (PLATFORM-FACTS 8.4, 8.10).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "emu/vmm/launch_plan.h"
#include "firmware/firmware.h"
#include "emu/vmm/runner.h"
#include "test/util/runfiles.h"

namespace snpemu {
namespace {

std::vector<uint8_t> image(const std::string& name) { return test::read_runfile("test/guests/" + name); }

vmm::GuestRunOptions snp_options(uint32_t vcpus = 1) {
  vmm::GuestRunOptions o;
  o.type = hv::VmType::kSnp;
  o.mem_bytes = uint64_t{64} << 20;
  o.vcpus = vcpus;
  o.max_cycles = 200'000'000;
  return o;
}

fw::Digest384 expected_measurement(const std::vector<uint8_t>& elf, uint32_t vcpus) {
  vmm::LaunchOptions l;
  l.vcpus = vcpus;
  auto plan = vmm::make_launch_plan(elf, l);
  EXPECT_TRUE(plan.has_value()) << plan.error().message;
  auto d = vmm::measure(plan->ranges);
  EXPECT_TRUE(d.has_value()) << d.error().message;
  return *d;
}

TEST(SnpRun, GuestIsLaunchedMeasuredAndTalksThroughTheGhcb) {
  const auto elf = image("sev_es_hello.elf");
  std::ostringstream console;
  auto r = vmm::run_guest(elf, snp_options(), console);
  ASSERT_TRUE(r.has_value()) << r.error() << "\nconsole so far:\n" << console.str();
  EXPECT_EQ(console.str(),
            "sev_es_hello: protocol v2 snp=1\n"
            "cbit msr=51 ghcb=51 insn=51\n"
            "in 0xe9 -> 0x00000000000000e9\n"
            "sev_es_hello: ok vc=113\n");
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->exit_status, 0);
  ASSERT_TRUE(r->measurement.has_value());
  EXPECT_EQ(*r->measurement, expected_measurement(elf, 1)) << "the firmware's digest differs from snpemu measure";
  // The GHCB page's Page State Change is the VMM exit before the termination.
  EXPECT_GE(r->vmm_exits, 2u);
}

TEST(SnpRun, PvalidateAndTheUnvalidatedPageVc) {
  std::ostringstream console;
  auto r = vmm::run_guest(image("snp_pvalidate.elf"), snp_options(), console);
  ASSERT_TRUE(r.has_value()) << r.error() << "\nconsole so far:\n" << console.str();
  EXPECT_EQ(console.str(),
            "snp_pvalidate: rescind rc=0 cf=0\n"
            "snp_pvalidate: rescind again rc=0 cf=1\n"
            "vc 0x404 at the load, revalidate rc=0 cf=0\n"
            "snp_pvalidate: read back 0x5a5a5a5a12345678 after 1 #VC 0x404\n"
            "snp_pvalidate: validate again rc=0 cf=1\n"
            "snp_pvalidate: ok\n");
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->reason_set, 0);
  EXPECT_EQ(r->reason_code, 0);
}

TEST(SnpRun, MeasurementCoversEveryVcpusVmsa) {
  const auto elf = image("sev_es_hello.elf");
  std::ostringstream c1, c2;
  auto one = vmm::run_guest(elf, snp_options(1), c1);
  auto two = vmm::run_guest(elf, snp_options(2), c2);
  ASSERT_TRUE(one.has_value()) << one.error();
  ASSERT_TRUE(two.has_value()) << two.error();
  ASSERT_TRUE(one->measurement && two->measurement);
  EXPECT_NE(*one->measurement, *two->measurement);
  EXPECT_EQ(*two->measurement, expected_measurement(elf, 2));
}

TEST(SnpRun, SameInputsGiveTheSameRun) {
  const auto elf = image("snp_pvalidate.elf");
  std::ostringstream c1, c2;
  auto a = vmm::run_guest(elf, snp_options(), c1);
  auto b = vmm::run_guest(elf, snp_options(), c2);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->cycles, b->cycles);
  EXPECT_EQ(a->instructions, b->instructions);
  EXPECT_EQ(a->exits, b->exits);
  EXPECT_EQ(a->measurement, b->measurement);
  EXPECT_EQ(c1.str(), c2.str());
}

// SNP AP creation end to end: APs wait in MP state UNINITIALIZED; the BSP builds a VMSA for
// each, turns it into a VMSA page with RMPADJUST and sends AP_CREATION; each AP then runs its own
// code on its own stack (snp_ap_boot.c) and halts. PLATFORM-FACTS 9.2.
TEST(SnpRun, ThreeApsCreatedByTheGuestRunTheirOwnCode) {
  auto o = snp_options(4);
  o.ap_start = vmm::GuestRunOptions::ApStart::kWaiting;
  std::ostringstream console;
  auto r = vmm::run_guest(image("snp_ap_boot.elf"), o, console);
  ASSERT_TRUE(r.has_value()) << r.error() << "\nconsole so far:\n" << console.str();
  EXPECT_EQ(console.str(),
            "snp_ap_boot: started 3 APs\n"
            "ap 1 ran on its own stack\n"
            "ap 2 ran on its own stack\n"
            "ap 3 ran on its own stack\n"
            "snp_ap_boot: ok\n");
  EXPECT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  EXPECT_EQ(r->exit_status, 0) << "reason set " << int(r->reason_set) << " code " << int(r->reason_code);
}

// Attestation end to end: the guest seals MSG_REPORT_REQ under VMPCK0 from its secrets page,
// the hypervisor forwards GUEST_REQUEST to the AMD-SP, and the guest opens the signed report and
// prints it. The host checks what an external verifier would: the signature against the
// machine's model VCEK (`snpemu vcek --pem`), the report data, and the measurement against the
// launch digest.
TEST(SnpRun, GuestObtainsASignedReportOfItsLaunch) {
  const auto o = snp_options();
  std::ostringstream console;
  auto r = vmm::run_guest(image("snp_attest.elf"), o, console);
  ASSERT_TRUE(r.has_value()) << r.error() << "\nconsole so far:\n" << console.str();
  ASSERT_EQ(r->end, vmm::GuestRunResult::End::kTerminated);
  ASSERT_EQ(r->exit_status, 0) << "reason set " << int(r->reason_set) << " code " << int(r->reason_code)
                               << "\n" << console.str();
  std::vector<uint8_t> report;
  std::string measurement;
  std::istringstream lines(console.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("measurement ", 0) == 0) measurement = line.substr(12);
    if (line.rfind("report 0x", 0) != 0) continue;
    const size_t offset = std::stoul(line.substr(7, 5), nullptr, 16);
    const std::string hex = line.substr(line.find(' ', 7) + 1);
    ASSERT_EQ(offset, report.size()) << line;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) report.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  ASSERT_EQ(report.size(), fw::kReportSize);
  auto vcek = fw::ModelVcek::derive(fw::platform_seed_from_machine_seed(o.seed));
  ASSERT_TRUE(vcek.has_value());
  EXPECT_TRUE(fw::verify_report_signature(report, vcek->public_key()).has_value())
      << "the report does not verify against the machine's VCEK";
  auto parsed = fw::parse_report(report);
  ASSERT_TRUE(parsed.has_value());
  for (int i = 0; i < 64; ++i) ASSERT_EQ(parsed->report_data[i], i) << "report data byte " << i;
  ASSERT_TRUE(r->measurement.has_value());
  EXPECT_EQ(parsed->measurement, *r->measurement) << "the report's measurement is the launch digest";
  std::string want;
  for (uint8_t b : *r->measurement) {
    static constexpr char kHex[] = "0123456789abcdef";
    want += kHex[b >> 4];
    want += kHex[b & 15];
  }
  EXPECT_EQ(measurement, want);
}

TEST(SnpRun, AnImageTheLaunchCannotPlaceIsAClearError) {
  std::vector<uint8_t> junk(64, 0x7F);
  std::ostringstream console;
  auto r = vmm::run_guest(junk, snp_options(), console);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("SNP launch plan"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace snpemu
