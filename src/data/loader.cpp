// Loader: per-epoch seeded order, rank sharding, batching and the prefetch thread.
#include "kdaug/data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/core/runtime.h"

namespace kdaug::data {

const at::Tensor* Batch::find(const std::string& key) const {
  for (const auto& kv : extra) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

Loader::Loader(const Dataset& dataset, LoaderOptions opts, BatchTransform transform)
    : dataset_(dataset), opts_(opts), transform_(std::move(transform)) {
  KDAUG_CHECK(opts_.batch_size > 0, "loader batch_size must be > 0, got ", opts_.batch_size);
  KDAUG_CHECK(opts_.world_size > 0, "loader world_size must be > 0, got ", opts_.world_size);
  KDAUG_CHECK(opts_.rank >= 0 && opts_.rank < opts_.world_size, "loader rank must be in [0, ", opts_.world_size,
              "), got ", opts_.rank);
  KDAUG_CHECK(!opts_.prefetch || opts_.prefetch_depth > 0, "loader prefetch_depth must be > 0, got ",
              opts_.prefetch_depth);
  KDAUG_CHECK(dataset_.images.defined() && dataset_.labels.defined(), "loader: dataset ", dataset_.name,
              " has no images/labels");
  KDAUG_CHECK(dataset_.images.dim() == 4 && dataset_.images.scalar_type() == at::kByte,
              "loader: dataset ", dataset_.name, " images must be uint8 [N,C,H,W], got ",
              dataset_.images.toString(), " ", dataset_.images.sizes());
  KDAUG_CHECK(dataset_.images.size(0) == dataset_.size(), "loader: dataset ", dataset_.name, " has ",
              dataset_.images.size(0), " images but ", dataset_.size(), " labels");
  KDAUG_CHECK(!opts_.device.is_cuda() || at::hasCUDA(), "loader: device ", opts_.device,
              " requested but this LibTorch build or machine has no CUDA");
}

Loader::~Loader() { stop_worker(); }

int64_t Loader::samples_per_epoch() const {
  // Like PyTorch's DistributedSampler: every rank gets ceil(N / world) samples.
  const int64_t n = dataset_.size();
  return (n + opts_.world_size - 1) / opts_.world_size;
}

int64_t Loader::batches_per_epoch() const {
  const int64_t s = samples_per_epoch(), b = opts_.batch_size;
  return opts_.drop_last ? s / b : (s + b - 1) / b;
}

at::Tensor Loader::epoch_order(int64_t epoch) const {
  const int64_t n = dataset_.size();
  const auto opts = at::TensorOptions().dtype(at::kLong);
  at::Tensor order;
  if (opts_.shuffle) {
    at::Generator gen = make_generator(derive_seed(opts_.seed, "shuffle", static_cast<uint64_t>(epoch)));
    order = at::randperm(n, gen, opts);
  } else {
    order = at::arange(n, opts);
  }
  if (opts_.world_size == 1 || n == 0) return order;
  // Pad by wrapping around the order so it splits evenly, then take every world_size-th entry
  // from this rank's offset: the shards are disjoint except for the few padded repeats.
  const int64_t total = samples_per_epoch() * opts_.world_size;
  if (total > n) {
    const at::Tensor wrap = at::arange(total - n, opts).remainder(n);
    order = at::cat({order, order.index_select(0, wrap)});
  }
  return order.slice(0, opts_.rank, total, opts_.world_size).contiguous();
}

Batch Loader::make_batch(const at::Tensor& order, int64_t step, int64_t epoch) const {
  const int64_t begin = step * opts_.batch_size;
  const int64_t end = std::min(begin + opts_.batch_size, order.size(0));
  Batch b;
  b.epoch = epoch;
  b.step = step;
  b.indices = order.slice(0, begin, end).contiguous();
  // Gather and move uint8 (4x fewer bytes than float over PCIe), convert on the device.
  at::Tensor images = dataset_.images.index_select(0, b.indices);
  at::Tensor labels = dataset_.labels.index_select(0, b.indices);
  if (opts_.device.is_cuda()) {
    // Pinned memory makes the non_blocking copies truly asynchronous.
    images = images.pin_memory();
    labels = labels.pin_memory();
  }
  b.images = images.to(opts_.device, /*non_blocking=*/true).to(at::kFloat).div_(255.0);
  b.labels = labels.to(opts_.device, /*non_blocking=*/true);
  if (transform_) transform_(b);
  return b;
}

void Loader::start_epoch(int64_t epoch) {
  stop_worker();
  order_ = epoch_order(epoch);
  epoch_ = epoch;
  step_ = 0;
  if (!opts_.prefetch) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_done_ = false;
  }
  const int64_t batches = batches_per_epoch();
  const at::Tensor order = order_;
  worker_ = std::thread([this, order, epoch, batches] {
    // Gathering and augmentation stay on this thread: the cores belong to the training step.
    make_this_thread_serial();
    try {
      for (int64_t s = 0; s < batches; ++s) {
        {
          std::unique_lock<std::mutex> lock(mu_);
          // Wait for room before building, so at most prefetch_depth batches sit in memory.
          cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < opts_.prefetch_depth; });
          if (stop_) return;
        }
        Batch b = make_batch(order, s, epoch);
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
        queue_.push_back(std::move(b));
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      worker_error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    worker_done_ = true;
    cv_.notify_all();
  });
}

c10::optional<Batch> Loader::next() {
  KDAUG_CHECK(order_.defined(), "Loader::next called before start_epoch");
  if (!opts_.prefetch) {
    const int64_t batches = batches_per_epoch();
    if (step_ >= batches) return c10::nullopt;
    try {
      return make_batch(order_, step_++, epoch_);
    } catch (...) {
      step_ = batches;  // as with prefetch: a failed batch ends the epoch
      throw;
    }
  }
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || worker_done_; });
    if (!queue_.empty()) {
      Batch b = std::move(queue_.front());
      queue_.pop_front();
      ++step_;
      cv_.notify_all();
      return b;
    }
    // Rethrown once; afterwards the epoch reads as finished.
    std::swap(error, worker_error_);
  }
  if (error) {
    stop_worker();
    std::rethrow_exception(error);
  }
  return c10::nullopt;
}

void Loader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
  stop_ = false;
  worker_done_ = true;  // no worker runs now: next() must not wait for one
  worker_error_ = nullptr;
}

}  // namespace kdaug::data
