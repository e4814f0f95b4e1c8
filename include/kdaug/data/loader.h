// Loader: seeded shuffling, batching and a background thread that prepares the next batch
// (gather, convert to float, move to device, optional transform) while the current one trains.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Optional.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "kdaug/data/dataset.h"

namespace kdaug::data {

// One batch. images: float32 [B,C,H,W] in [0,1] on the loader's device; labels: int64 [B] on
// the device; indices: int64 [B] on CPU, positions in the dataset (key of the soft-label cache).
// `extra` carries tensors a transform adds (augmented views, their parameters).
struct Batch {
  at::Tensor images;
  at::Tensor labels;
  at::Tensor indices;
  std::vector<std::pair<std::string, at::Tensor>> extra;
  int64_t epoch = 0;
  int64_t step = 0;
  const at::Tensor* find(const std::string& key) const;
};

// Runs on the prefetch thread, after the batch is on the device. It must derive any randomness
// from (epoch, step) so that a resumed run sees the same batches.
using BatchTransform = std::function<void(Batch&)>;

struct LoaderOptions {
  int64_t batch_size = 128;  // > 0
  bool shuffle = true;       // seeded per epoch from (seed, epoch)
  bool drop_last = false;    // drop a final partial batch
  uint64_t seed = 0;
  bool prefetch = true;      // prepare batches on a background thread
  int64_t prefetch_depth = 2;
  int64_t rank = 0;          // this process's shard of each epoch's order (data parallel)
  int64_t world_size = 1;
  c10::Device device = c10::Device(c10::kCPU);
};

class Loader {
 public:
  Loader(const Dataset& dataset, LoaderOptions opts, BatchTransform transform = nullptr);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;
  const Dataset& dataset() const { return dataset_; }

  // Starts an epoch (stops any unfinished one). The order depends only on (seed, epoch).
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch, or nullopt at its end.
  c10::optional<Batch> next();

  // The order of one epoch for this rank (int64 [samples_per_epoch()]).
  at::Tensor epoch_order(int64_t epoch) const;

 private:
  Batch make_batch(const at::Tensor& order, int64_t step, int64_t epoch) const;
  void stop_worker();

  Dataset dataset_;
  LoaderOptions opts_;
  BatchTransform transform_;
  at::Tensor order_;
  int64_t epoch_ = 0, step_ = 0;
  // prefetch state
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool stop_ = false, worker_done_ = false;
  std::exception_ptr worker_error_;
};

}  // namespace kdaug::data
