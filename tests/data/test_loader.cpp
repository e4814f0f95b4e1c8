// Tests for the Loader: coverage, seeded order, drop_last, rank sharding, prefetch equivalence,
// transforms, error propagation and clean shutdown.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "data_test_util.h"
#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/data/loader.h"

using kdaug::data::Batch;
using kdaug::data::Dataset;
using kdaug::data::Loader;
using kdaug::data::LoaderOptions;
using namespace kdaug_test;

namespace {

// N samples of 1x2x3 pixels; every pixel of sample i is i % 256, its label i % 10, so a batch
// shows which samples it holds.
Dataset toy(int64_t n) {
  Dataset ds;
  ds.images = (at::arange(n, at::kLong) % 256).to(at::kByte).view({n, 1, 1, 1}).expand({n, 1, 2, 3}).contiguous();
  ds.labels = at::arange(n, at::kLong) % 10;
  ds.num_classes = 10;
  ds.name = "toy";
  ds.mean = {0.5};
  ds.std = {0.5};
  return ds;
}

std::vector<Batch> drain(Loader& loader, int64_t epoch) {
  std::vector<Batch> out;
  loader.start_epoch(epoch);
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

at::Tensor all_indices(const std::vector<Batch>& batches) {
  std::vector<at::Tensor> parts;
  for (const auto& b : batches) parts.push_back(b.indices);
  return at::cat(parts);
}

LoaderOptions opts(int64_t batch, bool prefetch = true) {
  LoaderOptions o;
  o.batch_size = batch;
  o.prefetch = prefetch;
  o.seed = 5;
  return o;
}

}  // namespace

TEST(Loader, ValidatesOptions) {
  const Dataset ds = toy(10);
  auto bad = [&](auto edit, const std::string& field, const std::string& value) {
    LoaderOptions o = opts(4);
    edit(o);
    EXPECT_KDAUG_ERROR(Loader(ds, o), field, value);
  };
  bad([](LoaderOptions& o) { o.batch_size = 0; }, "batch_size", "0");
  bad([](LoaderOptions& o) { o.batch_size = -4; }, "batch_size", "-4");
  bad([](LoaderOptions& o) { o.world_size = 0; }, "world_size", "0");
  bad([](LoaderOptions& o) { o.rank = 2, o.world_size = 2; }, "rank", "2");
  bad([](LoaderOptions& o) { o.rank = -1; }, "rank", "-1");
  bad([](LoaderOptions& o) { o.prefetch_depth = 0; }, "prefetch_depth", "0");
  if (!at::hasCUDA()) {
    bad([](LoaderOptions& o) { o.device = c10::Device(c10::kCUDA, 0); }, "device", "cuda");
  }
  Loader loader(ds, opts(4));
  EXPECT_KDAUG_ERROR(loader.next(), "start_epoch");
}

TEST(Loader, EverySampleOncePerEpoch) {
  const Dataset ds = toy(103);
  Loader loader(ds, opts(10));
  EXPECT_EQ(loader.batches_per_epoch(), 11);
  EXPECT_EQ(loader.samples_per_epoch(), 103);
  for (int64_t epoch : {0, 1}) {
    const auto batches = drain(loader, epoch);
    ASSERT_EQ(batches.size(), 11u);
    EXPECT_EQ(batches.back().indices.size(0), 3);
    const at::Tensor idx = all_indices(batches);
    EXPECT_TRUE(at::equal(std::get<0>(at::sort(idx)), at::arange(103, at::kLong)));
    EXPECT_TRUE(at::equal(idx, loader.epoch_order(epoch)));
    for (size_t s = 0; s < batches.size(); ++s) {
      const Batch& b = batches[s];
      EXPECT_EQ(b.step, int64_t(s));
      EXPECT_EQ(b.epoch, epoch);
      EXPECT_EQ(b.images.scalar_type(), at::kFloat);
      EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{b.indices.size(0), 1, 2, 3}));
      // Pixels are the index scaled to [0,1]; labels follow the index.
      const at::Tensor expect = (b.indices % 256).to(at::kFloat).div(255.0).view({-1, 1, 1, 1}).expand_as(b.images);
      EXPECT_TRUE(at::allclose(b.images, expect));
      EXPECT_TRUE(at::equal(b.labels, b.indices % 10));
    }
  }
  // After the end, next() keeps returning nothing.
  EXPECT_FALSE(loader.next().has_value());
}

TEST(Loader, OrderDependsOnSeedAndEpochOnly) {
  const Dataset ds = toy(64);
  Loader a(ds, opts(8)), b(ds, opts(8, false));
  // Same seed and epoch: same order, whatever happened before.
  drain(a, 3);
  EXPECT_TRUE(at::equal(a.epoch_order(1), b.epoch_order(1)));
  EXPECT_TRUE(at::equal(all_indices(drain(a, 1)), all_indices(drain(b, 1))));
  EXPECT_FALSE(at::equal(a.epoch_order(1), a.epoch_order(2)));
  LoaderOptions other = opts(8);
  other.seed = 6;
  EXPECT_FALSE(at::equal(Loader(ds, other).epoch_order(1), a.epoch_order(1)));
  // The generator comes from derive_seed(seed, "shuffle", epoch).
  auto gen = kdaug::make_generator(kdaug::derive_seed(5, "shuffle", 4));
  EXPECT_TRUE(at::equal(a.epoch_order(4), at::randperm(64, gen, at::TensorOptions().dtype(at::kLong))));
  LoaderOptions seq = opts(8);
  seq.shuffle = false;
  EXPECT_TRUE(at::equal(Loader(ds, seq).epoch_order(9), at::arange(64, at::kLong)));
}

TEST(Loader, DropLast) {
  const Dataset ds = toy(103);
  LoaderOptions o = opts(10);
  o.drop_last = true;
  Loader loader(ds, o);
  EXPECT_EQ(loader.batches_per_epoch(), 10);
  const auto batches = drain(loader, 0);
  ASSERT_EQ(batches.size(), 10u);
  for (const auto& b : batches) EXPECT_EQ(b.indices.size(0), 10);
  const at::Tensor idx = all_indices(batches);
  EXPECT_EQ(std::get<0>(at::_unique(idx)).size(0), 100);  // no repeats
  // Exact multiple: nothing dropped.
  Loader even(toy(100), o);
  EXPECT_EQ(drain(even, 0).size(), 10u);
}

TEST(Loader, RankShardsAreDisjointAndCover) {
  const int64_t n = 103, world = 4;
  const Dataset ds = toy(n);
  std::vector<at::Tensor> shards;
  int64_t batches = -1;
  for (int64_t rank = 0; rank < world; ++rank) {
    LoaderOptions o = opts(5, rank % 2 == 0);
    o.rank = rank;
    o.world_size = world;
    Loader loader(ds, o);
    EXPECT_EQ(loader.samples_per_epoch(), 26);  // ceil(103 / 4)
    if (batches >= 0) EXPECT_EQ(loader.batches_per_epoch(), batches);
    batches = loader.batches_per_epoch();
    const auto got = drain(loader, 2);
    EXPECT_EQ(int64_t(got.size()), batches);
    shards.push_back(all_indices(got));
    EXPECT_EQ(shards.back().size(0), 26);
  }
  // 104 slots for 103 samples: every sample appears, exactly one appears twice (the wrap).
  const at::Tensor all = at::cat(shards);
  const at::Tensor counts = at::bincount(all, {}, n);
  EXPECT_EQ(counts.min().item<int64_t>(), 1);
  EXPECT_EQ(counts.sum().item<int64_t>(), 104);
  // Each shard alone has no repeats; shards overlap only in that one padded sample.
  int64_t overlap = 0;
  for (int64_t r = 0; r < world; ++r) {
    auto a = shards[r].accessor<int64_t, 1>();
    std::set<int64_t> mine(a.data(), a.data() + a.size(0));
    EXPECT_EQ(int64_t(mine.size()), shards[r].size(0));
    for (int64_t q = r + 1; q < world; ++q) {
      auto b = shards[q].accessor<int64_t, 1>();
      for (int64_t k = 0; k < b.size(0); ++k) overlap += mine.count(b[k]);
    }
  }
  EXPECT_EQ(overlap, 1);
  // More ranks than samples still gives every rank the same count.
  LoaderOptions o = opts(2);
  o.world_size = 5;
  o.rank = 4;
  Loader tiny(toy(3), o);
  EXPECT_EQ(tiny.samples_per_epoch(), 1);
  EXPECT_EQ(drain(tiny, 0).size(), 1u);
}

TEST(Loader, PrefetchMatchesSynchronous) {
  const Dataset ds = toy(57);
  // A transform with randomness derived from (epoch, step), as the contract asks.
  auto transform = [](Batch& b) {
    auto gen = kdaug::make_generator(kdaug::derive_seed(1, "test", uint64_t(b.epoch * 1000 + b.step)));
    b.extra.emplace_back("noise", at::rand(b.images.sizes(), gen, b.images.options()));
  };
  for (int64_t depth : {1, 3}) {
    LoaderOptions p = opts(8), s = opts(8, false);
    p.prefetch_depth = depth;
    Loader with(ds, p, transform), without(ds, s, transform);
    for (int64_t epoch : {0, 1}) {
      const auto a = drain(with, epoch), b = drain(without, epoch);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(at::equal(a[i].indices, b[i].indices));
        EXPECT_TRUE(at::equal(a[i].images, b[i].images));
        EXPECT_TRUE(at::equal(a[i].labels, b[i].labels));
        ASSERT_NE(a[i].find("noise"), nullptr);
        EXPECT_TRUE(at::equal(*a[i].find("noise"), *b[i].find("noise")));
        EXPECT_EQ(a[i].step, b[i].step);
        EXPECT_EQ(a[i].epoch, b[i].epoch);
      }
    }
  }
}

TEST(Loader, TransformIsAppliedAndSeesEpochAndStep) {
  const Dataset ds = toy(20);
  for (bool prefetch : {true, false}) {
    std::atomic<int> calls{0};
    Loader loader(ds, opts(6, prefetch), [&](Batch& b) {
      ++calls;
      b.images = b.images * 0 + static_cast<float>(b.epoch * 100 + b.step);
      b.extra.emplace_back("step", at::full({1}, b.step, at::kLong));
    });
    const auto batches = drain(loader, 7);
    ASSERT_EQ(batches.size(), 4u);
    EXPECT_EQ(calls.load(), 4);
    for (size_t s = 0; s < batches.size(); ++s) {
      EXPECT_EQ(batches[s].images.max().item<float>(), 700.0f + s);
      EXPECT_EQ(batches[s].find("step")->item<int64_t>(), int64_t(s));
      EXPECT_EQ(batches[s].find("missing"), nullptr);
    }
  }
}

TEST(Loader, WorkerExceptionPropagates) {
  const Dataset ds = toy(40);
  for (bool prefetch : {true, false}) {
    within_seconds(30, [&] {
      Loader loader(ds, opts(5, prefetch), [](Batch& b) {
        if (b.step == 2) KDAUG_FAIL("transform failed at step ", b.step);
      });
      loader.start_epoch(0);
      EXPECT_TRUE(loader.next().has_value());
      EXPECT_TRUE(loader.next().has_value());
      EXPECT_KDAUG_ERROR(loader.next(), "transform failed at step 2");
      EXPECT_FALSE(loader.next().has_value());  // the epoch is over, no hang
      // The loader is usable again for the next epoch (it fails at step 2 again).
      loader.start_epoch(1);
      EXPECT_TRUE(loader.next().has_value());
    });
  }
}

TEST(Loader, EarlyStopDoesNotHang) {
  const Dataset ds = toy(200);
  within_seconds(30, [&] {
    std::atomic<int> calls{0};
    auto slow = [&](Batch&) {
      ++calls;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    };
    LoaderOptions o = opts(4);
    o.prefetch_depth = 1;
    {
      Loader loader(ds, o, slow);
      loader.start_epoch(0);
      ASSERT_TRUE(loader.next().has_value());
      // Let the worker fill the queue and block on it, then restart mid-epoch.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      loader.start_epoch(1);
      const auto b = loader.next();
      ASSERT_TRUE(b.has_value());
      EXPECT_EQ(b->epoch, 1);
      EXPECT_EQ(b->step, 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // Destroyed with the worker blocked on a full queue.
    }
    // The bounded queue kept the worker from racing ahead: far fewer than 2 x 50 batches built.
    EXPECT_LT(calls.load(), 20);
    {
      Loader never_started(ds, o, slow);  // no worker ever ran
      Loader started(ds, o, slow);
      started.start_epoch(0);  // destroyed before any next()
    }
  });
}

TEST(Loader, EmptyDataset) {
  Loader loader(toy(0), opts(4));
  EXPECT_EQ(loader.batches_per_epoch(), 0);
  EXPECT_TRUE(drain(loader, 0).empty());
}
