// Round trips of the exit layer's state through base/serializer.h (STYLE rule 10), and
// rejection of corrupt input naming the field.
#include <gtest/gtest.h>

#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

template <class T>
std::vector<uint8_t> save(T& v) {
  Serializer w = Serializer::writer();
  v.serialize(w);
  EXPECT_TRUE(w.ok());
  return w.bytes();
}

TEST(ExitSerialize, VcpuWithPendingStringInRoundTrips) {
  ExitFixture f;
  f.map_guest(0x7000'0000, 0x30'0000);
  f.vcpu.gprs.r[kRdi] = 0x7000'0000;
  f.vcpu.gprs.r[kRcx] = 3;
  f.stage(svm::ExitCode::kIoio,
          *svm::encode_ioio({.type = svm::IoType::kIn,
                             .string = true,
                             .rep = true,
                             .operand_size = 1,
                             .address_size = 8,
                             .segment = svm::SegReg::kEs,
                             .port = 0x60}),
          kGuestRip + 2);
  ASSERT_EQ(f.run_exit().path, ExitPath::kIoStringUserspace);
  std::memcpy(f.vcpu.run.pio_data.data(), "abc", 3);
  const std::vector<uint8_t> bytes = save(f.vcpu);

  VcpuState restored;
  Serializer r = Serializer::reader(bytes);
  restored.serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(save(restored), bytes);
  // The restored vCPU finishes the same round trip.
  f.vcpu = restored;
  f.complete();
  EXPECT_EQ(f.read_gpa_string(0x30'0000, 3), "abc");
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 2);
}

TEST(ExitSerialize, DevicesCpuidAndNptRoundTrip) {
  ExitFixture f;
  f.vmctx.pio.debug_console.output = "log";
  f.vmctx.pio.com1.write(0x3FB, 0x83);
  f.vmctx.pio.com1.write(0x3F8, 0x01);
  f.vmctx.pio.com1.write(0x3FB, 0x03);
  f.vmctx.pio.com1.write(0x3F8, 'x');
  f.vmctx.pio.com1.push_input("in");
  const std::vector<uint8_t> dev = save(f.vmctx.pio);
  PioDevices d2;
  Serializer r = Serializer::reader(dev);
  d2.serialize(r);
  ASSERT_TRUE(r.ok()) << r.status().error().message();
  EXPECT_EQ(d2.com1.output(), "x");
  EXPECT_EQ(d2.com1.divisor(), 1);
  EXPECT_EQ(d2.com1.read(0x3F8), 'i');
  EXPECT_EQ(d2.debug_console.output, "log");

  const KvmCpuidEntry2 e[] = {{.function = 1, .eax = 0xA00F11},
                              {.function = 0x8000'001F, .ebx = 51}};
  ASSERT_TRUE(f.vmctx.cpuid.set(e).has_value());
  const std::vector<uint8_t> cp = save(f.vmctx.cpuid);
  CpuidTable t2;
  Serializer rc = Serializer::reader(cp);
  t2.serialize(rc);
  ASSERT_TRUE(rc.ok());
  ASSERT_NE(t2.find(0x8000'001F, 0), nullptr);
  EXPECT_EQ(t2.find(0x8000'001F, 0)->ebx, 51u);

  ASSERT_TRUE(f.npt->map(Gfn{3}, Pfn{0x1000}, {}).has_value());
  const std::vector<uint8_t> np = save(*f.npt);
  Serializer rn = Serializer::reader(np);
  f.npt->serialize(rn);
  ASSERT_TRUE(rn.ok());
  EXPECT_EQ(f.npt->mapped_pages(), 1u);
}

TEST(ExitSerialize, CorruptInputNamesTheField) {
  VcpuState v;
  std::vector<uint8_t> bytes = save(v);
  // completion.kind sits after id (4), 16 GPRs (128), 3 MSRs (24) and npt_flush_seen (8).
  bytes[4 + 128 + 24 + 8] = 0x77;
  Serializer r = Serializer::reader(bytes);
  VcpuState bad;
  bad.serialize(r);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error().field, "completion.kind");

  std::vector<uint8_t> cut = save(v);
  cut.resize(cut.size() / 2);
  Serializer rt = Serializer::reader(cut);
  bad.serialize(rt);
  EXPECT_FALSE(rt.ok());

  ExitFixture f;
  Npt other = std::move(*Npt::create(*f.memory, *f.host_pool, NptConfig{}));
  const std::vector<uint8_t> np = save(other);
  Serializer rn = Serializer::reader(np);
  f.npt->serialize(rn);
  ASSERT_FALSE(rn.ok());
  EXPECT_EQ(rn.status().error().field, "npt.root");
}

}  // namespace
}  // namespace snpemu::hv::test
