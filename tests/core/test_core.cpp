// Tests for core: errors, seeding, threads, device selection, atomic file writes, progress.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/core/progress.h"
#include "kdaug/core/rng.h"
#include "kdaug/core/runtime.h"

namespace fs = std::filesystem;

TEST(Core, CheckCarriesValue) {
  try {
    const int b = -3;
    KDAUG_CHECK(b > 0, "batch size must be > 0, got ", b);
    FAIL() << "no throw";
  } catch (const kdaug::Error& e) {
    EXPECT_EQ(std::string(e.what()), "batch size must be > 0, got -3");
  }
}

TEST(Core, DescribeExceptionIsOneLine) {
  try {
    TORCH_CHECK(false, "bad thing ", 7);
  } catch (const std::exception& e) {
    const std::string s = kdaug::describe_exception(e);
    EXPECT_EQ(s.find('\n'), std::string::npos);
    EXPECT_NE(s.find("bad thing 7"), std::string::npos);
  }
}

TEST(Core, SameSeedSameNumbers) {
  auto g1 = kdaug::make_generator(42), g2 = kdaug::make_generator(42), g3 = kdaug::make_generator(43);
  auto a = at::rand({100}, g1), b = at::rand({100}, g2), c = at::rand({100}, g3);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
}

TEST(Core, DerivedSeedsDiffer) {
  EXPECT_EQ(kdaug::derive_seed(1, "shuffle", 3), kdaug::derive_seed(1, "shuffle", 3));
  EXPECT_NE(kdaug::derive_seed(1, "shuffle", 3), kdaug::derive_seed(1, "shuffle", 4));
  EXPECT_NE(kdaug::derive_seed(1, "shuffle", 3), kdaug::derive_seed(1, "augment", 3));
  EXPECT_NE(kdaug::derive_seed(1, "shuffle", 3), kdaug::derive_seed(2, "shuffle", 3));
}

TEST(Core, ThreadsDefaultToAllCores) {
  EXPECT_EQ(kdaug::configure_threads(0), kdaug::available_cores());
  EXPECT_EQ(kdaug::configure_threads(1), 1);
  kdaug::configure_threads(2);
}

TEST(Core, DeviceSelection) {
  EXPECT_TRUE(kdaug::select_device("cpu").is_cpu());
  EXPECT_THROW(kdaug::select_device("tpu"), kdaug::Error);
  EXPECT_THROW(kdaug::select_device("cuda:x"), kdaug::Error);
}

TEST(Core, AtomicWriteLeavesNothingOnFailure) {
  const fs::path dir = fs::temp_directory_path() / "kdaug_test_io";
  fs::remove_all(dir);
  const std::string path = (dir / "sub" / "out.txt").string();
  kdaug::write_text_atomic(path, "first");
  EXPECT_EQ(kdaug::read_text(path), "first");
  EXPECT_THROW(kdaug::write_file_atomic(path, [](std::ostream& o) {
                 o << "half";
                 throw kdaug::Error("writer failed");
               }),
               kdaug::Error);
  EXPECT_EQ(kdaug::read_text(path), "first");  // old content intact
  int files = 0;
  for (auto& e : fs::directory_iterator(dir / "sub")) (void)e, ++files;
  EXPECT_EQ(files, 1);  // no temp file left behind
  EXPECT_THROW(kdaug::read_text((dir / "missing").string()), kdaug::Error);
  fs::remove_all(dir);
}

TEST(Core, ProgressPrintsRateAndEta) {
  std::ostringstream out;
  kdaug::ProgressOptions o;
  o.plain_interval_s = 0;
  kdaug::Progress p(out, "epoch 1", 100, o);
  p.update(50, "loss 0.5");
  p.finish();
  const std::string s = out.str();
  EXPECT_NE(s.find("epoch 1 50/100"), std::string::npos);
  EXPECT_NE(s.find("img/s"), std::string::npos);
  EXPECT_NE(s.find("ETA"), std::string::npos);
  EXPECT_NE(s.find("100/100"), std::string::npos);
  EXPECT_EQ(kdaug::format_duration(125), "2m05s");
}
