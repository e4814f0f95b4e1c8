// kdaug augment-preview: writes a PNG grid of the right size from real Fashion-MNIST images, is
// reproducible by seed, and rejects a recipe with an unknown op in one line naming it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/cli_run.h"
#include "kdaug/cli.h"

namespace fs = std::filesystem;

namespace {
using kdaug_test::Result;
using kdaug_test::run;
fs::path temp_dir(const std::string& name) {
  const auto d = fs::temp_directory_path() / ("kdaug_augcli_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string write_recipe(const fs::path& dir, const std::string& text) {
  const auto p = (dir / "recipe.yaml").string();
  std::ofstream(p) << text;
  return p;
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
// Width and height from a PNG's IHDR chunk (big-endian at bytes 16..23).
std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  auto be32 = [&](size_t o) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes.at(o + i));
    return v;
  };
  return {be32(16), be32(20)};
}

const char* kSynergy =
    "augment:\n"
    "  - crop: {padding: 2}\n"
    "  - rotate: {degrees: 10}\n"
    "  - scale: {min: 0.9, max: 1.1}\n"
    "  - hflip: {p: 0.5}\n"
    "perturb:\n"
    "  - gaussian_noise: {sigma: 0.1}\n";

std::vector<std::string> preview_args(const std::string& recipe, const std::string& out, const std::string& seed) {
  return {"augment-preview", "--recipe", recipe, "--out", out, "--n", "5", "--seed", seed,
          "--train-limit", "200", "--val-size", "100", "--threads", "1"};
}
}  // namespace

TEST(AugmentPreviewCli, WritesGridOfTheRightSize) {
  const auto dir = temp_dir("grid");
  const auto recipe = write_recipe(dir, kSynergy);
  const auto png = (dir / "grid.png").string();
  auto r = run(preview_args(recipe, png, "3"));
  ASSERT_EQ(r.code, 0) << r.log;
  const auto bytes = read_bytes(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  // 5 columns and 3 rows of 28x28 cells with 2-pixel gaps, enlarged 2x.
  const auto [w, h] = png_size(bytes);
  EXPECT_EQ(w, (5u * (28 + 2) + 2) * 2);
  EXPECT_EQ(h, (3u * (28 + 2) + 2) * 2);
  EXPECT_NE(r.out.find("rotate(degrees=[-10, 10]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gaussian_noise(sigma=[0.1, 0.1]"), std::string::npos) << r.out;

  // Same seed: the same bytes; another seed: other views.
  const auto png2 = (dir / "again.png").string();
  ASSERT_EQ(run(preview_args(recipe, png2, "3")).code, 0);
  EXPECT_EQ(read_bytes(png2), bytes);
  const auto png3 = (dir / "other.png").string();
  ASSERT_EQ(run(preview_args(recipe, png3, "4")).code, 0);
  EXPECT_NE(read_bytes(png3), bytes);
}

TEST(AugmentPreviewCli, WithoutPerturbTheGridHasTwoRows) {
  const auto dir = temp_dir("two_rows");
  const auto recipe = write_recipe(dir, "augment: [{hflip: {p: 1}}]\n");
  const auto png = (dir / "grid.png").string();
  auto args = preview_args(recipe, png, "0");
  args.insert(args.end(), {"--scale", "1"});
  ASSERT_EQ(run(args).code, 0);
  const auto [w, h] = png_size(read_bytes(png));
  EXPECT_EQ(w, 5u * 30 + 2);
  EXPECT_EQ(h, 2u * 30 + 2);
}

TEST(AugmentPreviewCli, UnknownOpIsOneErrorLineNamingIt) {
  const auto dir = temp_dir("unknown");
  const auto recipe = write_recipe(dir, "augment:\n  - crop: {padding: 2}\n  - rotat: {degrees: 10}\n");
  const auto png = (dir / "grid.png").string();
  auto r = run(preview_args(recipe, png, "0"));
  EXPECT_EQ(r.code, 1);
  const auto at = r.log.find("kdaug: error: ");
  ASSERT_NE(at, std::string::npos) << r.log;
  const auto err = r.log.substr(at);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("'rotat'"), std::string::npos) << err;
  EXPECT_NE(err.find("augment[1]"), std::string::npos) << err;
  EXPECT_NE(err.find(recipe), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(png));
}

TEST(AugmentPreviewCli, BadCountIsRejected) {
  const auto dir = temp_dir("bad_n");
  const auto recipe = write_recipe(dir, kSynergy);
  auto args = preview_args(recipe, (dir / "g.png").string(), "0");
  args[6] = "0";  // --n 0
  auto r = run(args);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.log.find("--n must be in [1, 1024], got 0"), std::string::npos) << r.log;
}
