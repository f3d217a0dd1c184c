// Tests of command ids and command-buffer codecs: offsets as PLATFORM-FACTS 8.2 gives them
// (checked byte by byte), round trips, and precise errors for short or reserved-bit buffers.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "firmware/firmware.h"

namespace snpemu::fw {
namespace {

uint64_t u64_at(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
uint32_t u32_at(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

TEST(Commands, IdsAndNames) {
  EXPECT_EQ(static_cast<uint32_t>(CommandId::kSnpLaunchStart), 0xA0u);
  EXPECT_EQ(static_cast<uint32_t>(CommandId::kSnpGuestRequest), 0x94u);
  EXPECT_EQ(static_cast<uint32_t>(CommandId::kSnpPageReclaim), 0xC7u);
  EXPECT_EQ(command_name(CommandId::kSnpLaunchUpdate), "SNP_LAUNCH_UPDATE");
  EXPECT_EQ(command_name(static_cast<CommandId>(0x87)), "UNKNOWN");
}

TEST(Commands, LaunchStartOffsets) {
  CmdLaunchStart c;
  c.gctx_paddr = Hpa{0x1000};
  c.policy = 0x30000;
  c.ma_gctx_paddr = Hpa{0x3000};
  c.imi_en = true;
  c.desired_tsc_khz = 2'000'000;
  c.gosvw[15] = 0x9A;
  auto b = serialize(c);
  ASSERT_EQ(b.size(), 48u);
  EXPECT_EQ(u64_at(b, 0x00), 0x1000u);
  EXPECT_EQ(u64_at(b, 0x08), 0x30000u);
  EXPECT_EQ(u64_at(b, 0x10), 0x3000u);
  EXPECT_EQ(u32_at(b, 0x18), 2u) << "imi_en is flags bit 1";
  EXPECT_EQ(u32_at(b, 0x1C), 2'000'000u);
  EXPECT_EQ(b[0x2F], 0x9A);
  auto back = parse_cmd_launch_start(b);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->policy, c.policy);
  EXPECT_TRUE(back->imi_en);
  EXPECT_FALSE(back->ma_en);
  EXPECT_EQ(back->gosvw, c.gosvw);
  b[0x18] = 4;
  EXPECT_EQ(parse_cmd_launch_start(b).error().message,
            "SNP_LAUNCH_START flags has reserved bits set: 0x4");
  EXPECT_EQ(parse_cmd_launch_start(std::span(b).first(47)).error().message,
            "SNP_LAUNCH_START buffer is 47 bytes, expected 48");
}

TEST(Commands, LaunchUpdateOffsetsAndChecks) {
  CmdLaunchUpdate c;
  c.gctx_paddr = Hpa{0x5000};
  c.page_type = PageType::kCpuid;
  c.imi_page = true;
  c.address = Hpa{0x7654'3000};
  c.vmpl1_perms = 0xF;
  c.vmpl2_perms = 0x3;
  c.vmpl3_perms = 0x1;
  auto b = serialize(c);
  ASSERT_EQ(b.size(), 32u);
  EXPECT_EQ(u32_at(b, 0x08), (6u << 1) | (1u << 4)) << "page_type bits 3:1, imi bit 4";
  EXPECT_EQ(u64_at(b, 0x10), 0x7654'3000u);
  EXPECT_EQ(u32_at(b, 0x18), 0x01030F00u) << "VMPL1 15:8, VMPL2 23:16, VMPL3 31:24";
  auto back = parse_cmd_launch_update(b);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->page_type, PageType::kCpuid);
  EXPECT_EQ(back->vmpl1_perms, 0xF);
  EXPECT_EQ(back->vmpl3_perms, 1);
  auto bad = b;
  bad[0x08] = 7 << 1;  // page type 7
  EXPECT_EQ(parse_cmd_launch_update(bad).error().message,
            "SNP_LAUNCH_UPDATE page_type 7 is not 1..6");
  bad = b;
  bad[0x08] = 0;  // page type 0
  EXPECT_EQ(parse_cmd_launch_update(bad).error().status, Status::kInvalidParam);
  bad = b;
  bad[0x18] = 1;
  EXPECT_EQ(parse_cmd_launch_update(bad).error().kind, ErrorKind::kBadField);
  bad = b;
  bad[0x0C] = 1;
  EXPECT_EQ(parse_cmd_launch_update(bad).error().message,
            "SNP_LAUNCH_UPDATE 0x0C has reserved bits set: 0x1");
  bad = b;
  bad[0x08] |= 1;  // 2 MiB page at a 4 KiB-aligned address
  EXPECT_EQ(parse_cmd_launch_update(bad).error().status, Status::kInvalidAddress);
}

TEST(Commands, LaunchFinishOffsetsAndChecks) {
  CmdLaunchFinish c;
  c.gctx_paddr = Hpa{0x1000};
  c.id_block_paddr = Hpa{0x2000};
  c.id_auth_paddr = Hpa{0x3000};
  c.id_block_en = c.auth_key_en = c.vcek_disabled = true;
  c.host_data[0] = 0x42;
  auto b = serialize(c);
  ASSERT_EQ(b.size(), 64u);
  EXPECT_EQ(u64_at(b, 0x10), 0x3000u);
  EXPECT_EQ(u64_at(b, 0x18), 7u);
  EXPECT_EQ(b[0x20], 0x42);
  auto back = parse_cmd_launch_finish(b);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->vcek_disabled);
  EXPECT_EQ(back->host_data, c.host_data);
  b[0x18] = 2;  // AUTH_KEY_EN alone
  EXPECT_EQ(parse_cmd_launch_finish(b).error().status, Status::kInvalidParam);
  b[0x18] = 8;
  EXPECT_EQ(parse_cmd_launch_finish(b).error().kind, ErrorKind::kBadField);
}

TEST(Commands, SmallBuffers) {
  auto act = serialize(CmdActivate{Hpa{0xABC000}, Asid{17}});
  ASSERT_EQ(act.size(), 12u);
  EXPECT_EQ(u32_at(act, 8), 17u);
  EXPECT_EQ(parse_cmd_activate(act)->asid.value, 17u);
  EXPECT_EQ(parse_cmd_addr(serialize(CmdAddr{Hpa{0x9000}}))->address.value, 0x9000u);
  CmdGctxAddrs req{Hpa{1 << 12}, Hpa{2 << 12}, Hpa{3 << 12}};
  auto rb = serialize(req, 3);
  ASSERT_EQ(rb.size(), 24u);
  EXPECT_EQ(parse_cmd_gctx_addrs(rb, 3)->second.value, 3u << 12);
  EXPECT_EQ(parse_cmd_gctx_addrs(std::span(rb).first(16), 2)->first.value, 2u << 12);
  EXPECT_FALSE(parse_cmd_gctx_addrs(std::span(rb).first(16), 3).has_value());
  EXPECT_FALSE(parse_cmd_gctx_addrs(rb, 4).has_value());
  auto page = serialize(CmdPageAddr{Hpa{0x20'0000}, true});
  EXPECT_EQ(u64_at(page, 0), 0x20'0001u) << "bit 0 = 2 MiB";
  auto p = parse_cmd_page_addr(page);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->page_size_2m);
  EXPECT_EQ(p->address.value, 0x20'0000u);
  uint64_t misaligned = 0x20'1001;
  std::memcpy(page.data(), &misaligned, 8);
  EXPECT_EQ(parse_cmd_page_addr(page).error().status, Status::kInvalidAddress);
  CmdInitEx init;
  init.init_rmp = init.list_paddr_en = true;
  init.list_paddr = Hpa{0x8000};
  init.max_snp_asid = 100;
  auto ib = serialize(init);
  EXPECT_EQ(u32_at(ib, 0), 3u);
  EXPECT_EQ(ib[0x10], 100);
  EXPECT_EQ(parse_cmd_init_ex(ib)->max_snp_asid, 100);
  ib[0] = 0x20;
  EXPECT_FALSE(parse_cmd_init_ex(ib).has_value());
  CmdShutdownEx sd;
  sd.x86_snp_shutdown = true;
  auto sb = serialize(sd);
  EXPECT_EQ(u32_at(sb, 0), 8u);
  EXPECT_EQ(u32_at(sb, 4), 2u);
  EXPECT_TRUE(parse_cmd_shutdown_ex(sb)->x86_snp_shutdown);
  sb[0] = 16;
  EXPECT_EQ(parse_cmd_shutdown_ex(sb).error().kind, ErrorKind::kBadLength);
}

TEST(Commands, RandomBuffersOnlyYieldValuesOrErrors) {
  const uint64_t seed = 0xC0DE'0007;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> b(rng() % 80);
    for (auto& x : b) x = static_cast<uint8_t>(rng() & rng());  // sparse bits: some pass
    (void)parse_cmd_launch_update(b);
    (void)parse_cmd_launch_start(b);
    (void)parse_cmd_launch_finish(b);
    (void)parse_cmd_init_ex(b);
    (void)parse_cmd_shutdown_ex(b);
    (void)parse_cmd_page_addr(b);
    (void)parse_cmd_gctx_addrs(b, 3);
  }
  // Valid LAUNCH_UPDATE buffers round-trip exactly.
  std::mt19937_64 again(seed);
  for (int i = 0; i < 200; ++i) {
    CmdLaunchUpdate c;
    c.page_type = static_cast<PageType>(1 + again() % 6);
    c.address = Hpa{(again() & 0xFFFF'FFFF) << 12};
    c.vmpl2_perms = static_cast<uint8_t>(again());
    auto back = parse_cmd_launch_update(serialize(c));
    ASSERT_TRUE(back.has_value()) << "seed " << seed << " iter " << i;
    EXPECT_EQ(serialize(*back), serialize(c)) << "seed " << seed << " iter " << i;
  }
}

}  // namespace
}  // namespace snpemu::fw
