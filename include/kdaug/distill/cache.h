// SoftLabelCache: the teacher's outputs for K replayable augmented views of every training
// image, in one memory-mapped file, so that distillation runs without a teacher forward pass.
//
// Why it stays correct under random augmentation: the cache does not key a soft label by the
// image alone (that goes stale as soon as the view changes). Each (image i, view k) has an
// int64 view seed; the augmentation pipeline turns that seed, and nothing else, into the view's
// parameters (Pipeline::sample_params_from_seeds). During training a step draws k per image,
// replays the view from its seed, and reads t(view) from the cache: the student sees exactly
// the image the teacher labelled. Perturbation (x'') stays fresh every step.
//
// File layout (little endian, format version 1):
//   [0, 8)    magic "KDAUGSLC"
//   [8, 12)   uint32 format version
//   [12, 16)  uint32 length L of the JSON header
//   [16, 24)  uint64 images completed (== N when the build finished)
//   [24, 32)  uint64 FNV-1a 64 checksum of everything from the data offset to the end
//   [32, 32+L) JSON header: the CacheKey (teacher checkpoint hash and options, augmentation
//             hash and description, dataset identity, N, K, classes, storage, top-k)
//   data offset D = 32 + L rounded up to 4096:
//     seeds    int64 [N, K]
//     values   fp16|fp32 [N, K, V]  (V = classes, or topk + 1: the k largest logits, then the
//                                    logit given to every other class)
//     indices  int16 [N, K, topk]   (top-k only: the classes of the stored logits)
// A build writes PATH.partial, records progress in "images completed" after each chunk, and
// renames it to PATH only when complete (an interrupted build resumes from the partial file).
// Opening checks the magic, version, size, completeness, checksum and that the header equals
// the expected key: a mismatch is never used silently.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "kdaug/augment/pipeline.h"

namespace YAML {
class Node;
}

namespace kdaug::distill {

// What a cache is for, as written in a recipe's `teacher.cache:` block.
struct CacheOptions {
  std::string path;                     // "" = runs/cache/<teacher>-<key hash>.slc
  int64_t views = 8;                    // K augmented views per image (1 when the teacher sees x)
  std::string storage = "fp16";         // fp16 | fp32
  int64_t topk = 0;                     // 0 = all logits; k > 0 = the k largest + one fill value
  std::string on_mismatch = "rebuild";  // rebuild | error: what to do with a stale cache file
  uint64_t seed = 0;                    // the view seeds derive from it (shared by all runs using it)
  int64_t batch_size = 256;             // teacher batch while building

  // Parses a `teacher.cache:` map (unknown keys and bad values name the key path).
  static CacheOptions from_yaml(const YAML::Node& node, const std::string& path = "teacher.cache");
  void validate(const std::string& path = "teacher.cache") const;
};

// Everything a cache's contents depend on. Two keys are equal iff the JSON forms are.
struct CacheKey {
  std::string teacher_checkpoint;  // informational (not compared)
  std::string teacher_hash;        // FNV-1a 64 of the checkpoint file's bytes, hex
  std::string teacher_options;     // e.g. "precision=bf16 channels_last=1"
  std::string augment;             // Pipeline::describe() of the views' pipeline ("identity" if empty)
  std::string augment_hash;        // FNV-1a 64 of `augment`, hex
  std::string dataset;             // e.g. "fashion-mnist/train n=55000 images=<hash> labels=<hash>"
  int64_t num_images = 0;
  int64_t views = 1;
  int64_t num_classes = 0;
  std::string storage = "fp16";
  int64_t topk = 0;
  uint64_t seed = 0;

  nlohmann::json to_json() const;            // what the header stores
  nlohmann::json identity_json() const;      // the compared part (without the checkpoint path)
  std::string hash() const;                  // short hex hash of identity_json()
  int64_t value_width() const { return topk > 0 ? topk + 1 : num_classes; }
  int64_t bytes_per_view() const;            // seed + values (+ indices)
};

// FNV-1a 64 of a file's bytes (throws kdaug::Error naming the path when unreadable) and of a
// byte range, as 16 hex digits.
std::string hash_file_hex(const std::string& path);
std::string hash_bytes_hex(const void* data, size_t n);

// The identity of a dataset split: its name, size and the hashes of its images and labels.
std::string dataset_identity(const std::string& name, const at::Tensor& images, const at::Tensor& labels);

// Teacher logits for a float [B,C,H,W] batch in [0,1] (a distill::Teacher, or a test model).
using LogitsFn = std::function<at::Tensor(const at::Tensor& x)>;

struct BuildOptions {
  std::ostream* log = nullptr;  // progress lines (none when null)
  bool interactive = false;     // redraw one progress line
  int64_t stop_after_images = 0;  // > 0: stop (leaving PATH.partial) after this many images (tests)
};

struct BuildReport {
  bool built = false;        // false: an existing cache matched and was used as it is
  bool resumed = false;      // the build continued a partial file
  int64_t resumed_from = 0;  // images already done in that partial file
  bool complete = true;      // false only with stop_after_images
  double seconds = 0;
  std::string reason;        // why it (re)built: "no cache file", "teacher changed", ...
};

class SoftLabelCache {
 public:
  // Opens a complete cache. With `expect`, the header must equal it (else kdaug::Error saying
  // which field differs). Detects truncated, unfinished and corrupt files (kdaug::Error).
  static std::shared_ptr<SoftLabelCache> open(const std::string& path, const CacheKey* expect = nullptr);

  // Makes `path` hold the cache for `key`: keeps a matching complete file, resumes a matching
  // partial build, otherwise (re)builds it from `images` (uint8 or float [N,C,H,W], the split
  // the key names) with `views` (the pipeline whose describe() is key.augment) and `teacher`.
  // on_mismatch == "error": a present but different cache file is an error instead.
  // Concurrent callers on the same path serialise on PATH.lock.
  static BuildReport ensure(const std::string& path, const CacheKey& key, const at::Tensor& images,
                            const augment::Pipeline& views, const LogitsFn& teacher,
                            const std::string& on_mismatch = "rebuild", const BuildOptions& opts = {});

  ~SoftLabelCache();
  SoftLabelCache(const SoftLabelCache&) = delete;
  SoftLabelCache& operator=(const SoftLabelCache&) = delete;

  const CacheKey& key() const { return key_; }
  const std::string& path() const { return path_; }
  int64_t file_bytes() const { return static_cast<int64_t>(size_); }

  // idx: int64 [B] image positions, k: int64 [B] view numbers in [0, K) -> int64 [B] (CPU).
  at::Tensor seeds(const at::Tensor& idx, const at::Tensor& k) const;
  // -> float32 [B, classes] (CPU): the stored logits (top-k: the others get the fill logit).
  at::Tensor logits(const at::Tensor& idx, const at::Tensor& k) const;

 private:
  SoftLabelCache() = default;
  at::Tensor flat_index(const at::Tensor& idx, const at::Tensor& k) const;
  std::string path_;
  CacheKey key_;
  void* map_ = nullptr;
  size_t size_ = 0;
  size_t data_offset_ = 0;
};

// The seed of view k of image i (what a build stores).
int64_t cache_view_seed(uint64_t cache_seed, int64_t image, int64_t view);

}  // namespace kdaug::distill
