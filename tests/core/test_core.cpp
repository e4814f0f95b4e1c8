// Tests for core: errors, seeding, threads, device selection, atomic file writes, progress.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <thread>

#include <filesystem>
#include <unistd.h>
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

TEST(Core, SerialThreadLeavesTheOtherThreadsParallel) {
  // The loader's prefetch thread: its operations run on itself alone, while the training thread
  // and threads started later keep the configured team size. (at::get_num_threads() is the
  // calling thread's OpenMP team size, what LibTorch's kernels use.)
  kdaug::configure_threads(2);
  const bool openmp = at::get_parallel_info().find("backend: OpenMP") != std::string::npos;
  bool serial = false;
  int inside = 0;
  std::thread([&] {
    serial = kdaug::make_this_thread_serial();
    inside = at::get_num_threads();
  }).join();
  EXPECT_EQ(serial, openmp);
  if (openmp) EXPECT_EQ(inside, 1);
  EXPECT_EQ(at::get_num_threads(), 2);
  int later = 0;
  std::thread([&] { later = at::get_num_threads(); }).join();
  EXPECT_EQ(later, 2);
}

TEST(Core, DeviceSelection) {
  EXPECT_TRUE(kdaug::select_device("cpu").is_cpu());
  EXPECT_THROW(kdaug::select_device("tpu"), kdaug::Error);
  EXPECT_THROW(kdaug::select_device("cuda:x"), kdaug::Error);
}

TEST(Core, AtomicWriteLeavesNothingOnFailure) {
  const fs::path dir = fs::temp_directory_path() / ("kdaug_test_io_" + std::to_string(::getpid()));
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

// ---- config -------------------------------------------------------------------------------
#include "kdaug/core/config.h"

TEST(Config, UnknownKeySuggestsClosest) {
  const auto node = YAML::Load("{epochs: 3, lerning_rate: 0.1}");
  try {
    kdaug::config::check_keys(node, {"epochs", "learning_rate", "batch_size"}, "train");
    FAIL();
  } catch (const kdaug::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.lerning_rate: unknown key (did you mean learning_rate?)"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(kdaug::config::check_keys(YAML::Load("{epochs: 3}"), {"epochs"}, "train"));
  EXPECT_EQ(kdaug::config::closest("zzzzzz", {"epochs", "lr"}), "");
}

TEST(Config, TypedGetNamesPath) {
  const auto node = YAML::Load("{lr: fast, epochs: 3}");
  EXPECT_EQ(kdaug::config::get<int64_t>(node, "epochs", 1, "train"), 3);
  EXPECT_EQ(kdaug::config::get<int64_t>(node, "missing", 7, "train"), 7);
  try {
    kdaug::config::get<double>(node, "lr", 0.1, "train");
    FAIL();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.lr: expected a number, got 'fast'"), std::string::npos) << e.what();
  }
}

TEST(Config, OverridesCreatePaths) {
  YAML::Node root = YAML::Load("{train: {lr: 0.1}}");
  kdaug::config::apply_override(root, "train.lr=0.05");
  kdaug::config::apply_override(root, "student.model=resnet8");
  kdaug::config::apply_override(root, "eval.sigmas=[0.1, 0.2]");
  EXPECT_DOUBLE_EQ(root["train"]["lr"].as<double>(), 0.05);
  EXPECT_EQ(root["student"]["model"].as<std::string>(), "resnet8");
  EXPECT_EQ(root["eval"]["sigmas"].size(), 2u);
  EXPECT_THROW(kdaug::config::apply_override(root, "novalue"), kdaug::Error);
  EXPECT_THROW(kdaug::config::apply_override(root, "a..b=1"), kdaug::Error);
}

TEST(Config, LoadFileErrorsNameFile) {
  const auto p = (fs::temp_directory_path() / ("kdaug_bad_" + std::to_string(::getpid()) + ".yaml")).string();
  kdaug::write_text_atomic(p, "train: {lr: [1, 2\n");
  try {
    kdaug::config::load_file(p);
    FAIL();
  } catch (const kdaug::Error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
  EXPECT_THROW(kdaug::config::load_file(p + ".missing"), kdaug::Error);
  fs::remove(p);
}
