#include "kdaug/distill/cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <vector>

#include "kdaug/core/config.h"
#include "kdaug/core/error.h"
#include "kdaug/core/progress.h"
#include "kdaug/core/rng.h"

namespace fs = std::filesystem;

namespace kdaug::distill {
namespace {

constexpr char kMagic[8] = {'K', 'D', 'A', 'U', 'G', 'S', 'L', 'C'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFixed = 32;      // magic, version, header length, completed, checksum
constexpr size_t kAlign = 4096;    // the data start on a page boundary
constexpr uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errno_text() {
  return std::strerror(errno);
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void pwrite_all(int fd, const void* data, size_t n, size_t offset, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    KDAUG_CHECK(w > 0, "cannot write ", path, ": ", errno_text());
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<size_t>(w);
  }
}

bool pread_all(int fd, void* data, size_t n, size_t offset) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<size_t>(r);
  }
  return true;
}

size_t data_offset_for(size_t header_len) {
  return (kFixed + header_len + kAlign - 1) / kAlign * kAlign;
}

size_t element_bytes(const std::string& storage) {
  return storage == "fp32" ? 4 : 2;
}

at::ScalarType element_type(const std::string& storage) {
  return storage == "fp32" ? at::kFloat : at::kHalf;
}

CacheKey key_from_json(const nlohmann::json& j) {
  CacheKey k;
  k.teacher_checkpoint = j.value("teacher_checkpoint", "");
  k.teacher_hash = j.at("teacher_hash").get<std::string>();
  k.teacher_options = j.at("teacher_options").get<std::string>();
  k.augment = j.at("augment").get<std::string>();
  k.augment_hash = j.at("augment_hash").get<std::string>();
  k.dataset = j.at("dataset").get<std::string>();
  k.num_images = j.at("num_images").get<int64_t>();
  k.views = j.at("views").get<int64_t>();
  k.num_classes = j.at("num_classes").get<int64_t>();
  k.storage = j.at("storage").get<std::string>();
  k.topk = j.at("topk").get<int64_t>();
  k.seed = j.at("seed").get<uint64_t>();
  return k;
}

// The one field where `have` and `want` differ first, as "field: cache has A, needs B" ("" if equal).
std::string first_difference(const CacheKey& have, const CacheKey& want) {
  const auto h = have.identity_json();
  const auto w = want.identity_json();
  for (const auto& [name, value] : w.items()) {
    if (!h.contains(name) || h[name] != value) {
      return name + ": the cache has " + (h.contains(name) ? h[name].dump() : "nothing") + ", this run needs " +
             value.dump();
    }
  }
  return "";
}

// The header of a cache file, read without mapping it (for partial files).
struct Header {
  CacheKey key;
  uint64_t completed = 0;
  uint64_t checksum = 0;
  size_t data_offset = 0;
};

// Reads and checks the fixed part and the JSON header; throws kdaug::Error naming the path.
Header read_header(int fd, size_t size, const std::string& path) {
  char fixed[kFixed];
  KDAUG_CHECK(size >= kFixed && pread_all(fd, fixed, kFixed, 0), "soft-label cache ", path, " is truncated (",
              size, " bytes, not even a header)");
  KDAUG_CHECK(std::memcmp(fixed, kMagic, 8) == 0, path, " is not a kdaug soft-label cache (bad magic)");
  uint32_t version = 0, len = 0;
  std::memcpy(&version, fixed + 8, 4);
  std::memcpy(&len, fixed + 12, 4);
  KDAUG_CHECK(version == kVersion, "soft-label cache ", path, " has format version ", version, "; this kdaug reads ",
              kVersion, " (rebuild it)");
  KDAUG_CHECK(kFixed + len <= size, "soft-label cache ", path, " is truncated (", size, " bytes, header needs ",
              kFixed + len, ")");
  Header h;
  std::memcpy(&h.completed, fixed + 16, 8);
  std::memcpy(&h.checksum, fixed + 24, 8);
  std::string text(len, '\0');
  KDAUG_CHECK(pread_all(fd, text.data(), len, kFixed), "cannot read ", path, ": ", errno_text());
  try {
    h.key = key_from_json(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    KDAUG_FAIL("soft-label cache ", path, " has a corrupt header: ", e.what());
  }
  KDAUG_CHECK(h.key.num_images >= 0 && h.key.views > 0 && h.key.num_classes > 0 && h.key.topk >= 0 &&
                  (h.key.storage == "fp16" || h.key.storage == "fp32"),
              "soft-label cache ", path, " has a corrupt header (impossible sizes)");
  h.data_offset = data_offset_for(len);
  return h;
}

size_t expected_size(const Header& h) {
  return h.data_offset + static_cast<size_t>(h.key.num_images * h.key.views * h.key.bytes_per_view());
}

uint64_t checksum_file(int fd, size_t from, size_t to, const std::string& path) {
  std::vector<char> buf(1 << 20);
  uint64_t h = kFnvOffset;
  for (size_t at = from; at < to;) {
    const size_t n = std::min(buf.size(), to - at);
    KDAUG_CHECK(pread_all(fd, buf.data(), n, at), "cannot read ", path, ": ", errno_text());
    h = fnv1a(buf.data(), n, h);
    at += n;
  }
  return h;
}

// An exclusive lock on PATH.lock for the lifetime of the object.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_.fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    KDAUG_CHECK(fd_.fd >= 0, "cannot create the lock file ", path, ": ", errno_text());
    KDAUG_CHECK(::flock(fd_.fd, LOCK_EX) == 0, "cannot lock ", path, ": ", errno_text());
  }
 private:
  Fd fd_;
};

// Fills images [begin, end) of an open partial file.
void write_chunk(int fd, const Header& h, int64_t begin, int64_t end, const at::Tensor& images,
                 const augment::Pipeline& views, const LogitsFn& teacher, const std::string& path) {
  const auto& k = h.key;
  const int64_t b = end - begin;
  const auto x = augment::to_float_image(images.narrow(0, begin, b).contiguous());
  auto seeds = at::empty({b, k.views}, at::kLong);
  auto* sp = seeds.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t v = 0; v < k.views; ++v) sp[i * k.views + v] = cache_view_seed(k.seed, begin + i, v);
  }
  std::vector<at::Tensor> logits;
  for (int64_t v = 0; v < k.views; ++v) {
    at::Tensor xv = x;
    if (!views.empty()) {
      const auto col = seeds.select(1, v).contiguous();
      xv = views.replay(x, views.sample_params_from_seeds(col, {x.size(1), x.size(2), x.size(3)}, x.device()));
    }
    const auto t = teacher(xv).to(at::kCPU, at::kFloat);
    KDAUG_CHECK(t.dim() == 2 && t.size(0) == b && t.size(1) == k.num_classes, "the teacher returned logits of shape ",
                t.sizes(), "; the cache expects [", b, ", ", k.num_classes, "]");
    logits.push_back(t);
  }
  auto all = at::stack(logits, 1);  // [b, K, classes]
  at::Tensor values, indices;
  if (k.topk > 0) {
    auto [top, idx] = all.topk(k.topk, -1);
    auto rest = all.scatter(-1, idx, -std::numeric_limits<float>::infinity());
    // The other classes share the probability mass they had at T = 1.
    auto fill = rest.logsumexp(-1, true) - std::log(static_cast<double>(k.num_classes - k.topk));
    values = at::cat({top, fill}, -1);
    indices = idx.to(at::kShort).contiguous();
  } else {
    values = all;
  }
  values = values.to(element_type(k.storage)).contiguous();
  const size_t n_all = static_cast<size_t>(k.num_images * k.views);
  const size_t row0 = static_cast<size_t>(begin * k.views);
  const size_t vbytes = static_cast<size_t>(k.value_width()) * element_bytes(k.storage);
  const size_t seeds_at = h.data_offset;
  const size_t values_at = seeds_at + n_all * 8;
  const size_t indices_at = values_at + n_all * vbytes;
  pwrite_all(fd, seeds.data_ptr(), seeds.nbytes(), seeds_at + row0 * 8, path);
  pwrite_all(fd, values.data_ptr(), values.nbytes(), values_at + row0 * vbytes, path);
  if (indices.defined()) {
    pwrite_all(fd, indices.data_ptr(), indices.nbytes(), indices_at + row0 * k.topk * 2, path);
  }
}

}  // namespace

CacheOptions CacheOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  CacheOptions o;
  if (!node || node.IsNull()) return o;
  if (node.IsScalar()) {  // `cache: true` / `cache: false` / `cache: some/path.slc`
    KDAUG_FAIL(path, ": expected a map such as {views: 8, storage: fp16}, got '", node.as<std::string>(), "'");
  }
  config::check_keys(node, {"path", "views", "storage", "topk", "on_mismatch", "seed", "batch_size"}, path);
  o.path = config::get<std::string>(node, "path", o.path, path);
  o.views = config::get<int64_t>(node, "views", o.views, path);
  o.storage = config::get<std::string>(node, "storage", o.storage, path);
  o.topk = config::get<int64_t>(node, "topk", o.topk, path);
  o.on_mismatch = config::get<std::string>(node, "on_mismatch", o.on_mismatch, path);
  o.seed = config::get<uint64_t>(node, "seed", o.seed, path);
  o.batch_size = config::get<int64_t>(node, "batch_size", o.batch_size, path);
  o.validate(path);
  return o;
}

void CacheOptions::validate(const std::string& path) const {
  KDAUG_CHECK(views > 0 && views <= 4096, path, ".views must be in [1, 4096], got ", views);
  KDAUG_CHECK(storage == "fp16" || storage == "fp32", path, ".storage must be fp16 or fp32, got '", storage, "'");
  KDAUG_CHECK(topk >= 0 && topk <= 32767, path, ".topk must be 0 (all logits) or a class count, got ", topk);
  KDAUG_CHECK(on_mismatch == "rebuild" || on_mismatch == "error", path, ".on_mismatch must be rebuild or error, got '",
              on_mismatch, "'");
  KDAUG_CHECK(batch_size > 0, path, ".batch_size must be a positive integer, got ", batch_size);
}

nlohmann::json CacheKey::identity_json() const {
  return {{"teacher_hash", teacher_hash}, {"teacher_options", teacher_options},
          {"augment", augment},           {"augment_hash", augment_hash},
          {"dataset", dataset},           {"num_images", num_images},
          {"views", views},               {"num_classes", num_classes},
          {"storage", storage},           {"topk", topk},
          {"seed", seed},                 {"format_version", kVersion}};
}

nlohmann::json CacheKey::to_json() const {
  auto j = identity_json();
  j["teacher_checkpoint"] = teacher_checkpoint;
  return j;
}

std::string CacheKey::hash() const {
  const auto text = identity_json().dump();
  return hex64(fnv1a(text.data(), text.size())).substr(0, 12);
}

int64_t CacheKey::bytes_per_view() const {
  return 8 + value_width() * static_cast<int64_t>(element_bytes(storage)) + topk * 2;
}

std::string hash_bytes_hex(const void* data, size_t n) {
  return hex64(fnv1a(data, n));
}

std::string hash_file_hex(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KDAUG_CHECK(f.fd >= 0, "cannot read ", path, ": ", errno_text());
  struct stat st {};
  KDAUG_CHECK(::fstat(f.fd, &st) == 0, "cannot read ", path, ": ", errno_text());
  return hex64(checksum_file(f.fd, 0, static_cast<size_t>(st.st_size), path));
}

std::string dataset_identity(const std::string& name, const at::Tensor& images, const at::Tensor& labels) {
  const auto im = images.cpu().contiguous();
  const auto lb = labels.cpu().to(at::kLong).contiguous();
  return name + " n=" + std::to_string(im.size(0)) + " shape=" + c10::str(im.sizes()) + " dtype=" +
         std::string(c10::toString(im.scalar_type())) + " images=" + hash_bytes_hex(im.data_ptr(), im.nbytes()) +
         " labels=" + hash_bytes_hex(lb.data_ptr(), lb.nbytes());
}

int64_t cache_view_seed(uint64_t cache_seed, int64_t image, int64_t view) {
  return static_cast<int64_t>(derive_seed(cache_seed, "soft-label-cache",
                                          (static_cast<uint64_t>(image) << 12) + static_cast<uint64_t>(view)));
}

std::shared_ptr<SoftLabelCache> SoftLabelCache::open(const std::string& path, const CacheKey* expect) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KDAUG_CHECK(f.fd >= 0, "cannot open soft-label cache ", path, ": ", errno_text());
  struct stat st {};
  KDAUG_CHECK(::fstat(f.fd, &st) == 0, "cannot read ", path, ": ", errno_text());
  const auto size = static_cast<size_t>(st.st_size);
  const auto h = read_header(f.fd, size, path);
  KDAUG_CHECK(h.completed == static_cast<uint64_t>(h.key.num_images), "soft-label cache ", path,
              " is an unfinished build (", h.completed, " of ", h.key.num_images, " images)");
  KDAUG_CHECK(size == expected_size(h), "soft-label cache ", path, " is truncated or corrupt: ", size,
              " bytes, its header says ", expected_size(h));
  KDAUG_CHECK(checksum_file(f.fd, h.data_offset, size, path) == h.checksum, "soft-label cache ", path,
              " is corrupt: the checksum of its data does not match its header");
  if (expect != nullptr) {
    const auto diff = first_difference(h.key, *expect);
    KDAUG_CHECK(diff.empty(), "soft-label cache ", path, " was built for something else: ", diff);
  }
  std::shared_ptr<SoftLabelCache> c(new SoftLabelCache());
  c->path_ = path;
  c->key_ = h.key;
  c->size_ = size;
  c->data_offset_ = h.data_offset;
  c->map_ = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.fd, 0);
  KDAUG_CHECK(c->map_ != MAP_FAILED, "cannot map soft-label cache ", path, ": ", errno_text());
  return c;
}

SoftLabelCache::~SoftLabelCache() {
  if (map_ != nullptr && map_ != MAP_FAILED) ::munmap(map_, size_);
}

BuildReport SoftLabelCache::ensure(const std::string& path, const CacheKey& key, const at::Tensor& images,
                                   const augment::Pipeline& views, const LogitsFn& teacher,
                                   const std::string& on_mismatch, const BuildOptions& opts) {
  KDAUG_CHECK(images.dim() == 4 && images.size(0) == key.num_images, "soft-label cache: the key says ",
              key.num_images, " images, the data have shape ", images.sizes());
  KDAUG_CHECK(key.topk < key.num_classes, "teacher.cache.topk must be smaller than the class count (",
              key.num_classes, "), got ", key.topk, "; use 0 to store every logit");
  KDAUG_CHECK(!views.empty() || key.views == 1, "soft-label cache: without augmentation every view is the same; ",
              "use views: 1");
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  FileLock lock(path + ".lock");
  BuildReport rep;
  if (fs::exists(path)) {
    try {
      open(path, &key);
      rep.built = false;
      return rep;
    } catch (const Error& e) {
      KDAUG_CHECK(on_mismatch != "error", e.what(), " (teacher.cache.on_mismatch is error: remove the file or set it",
                  " to rebuild)");
      rep.reason = e.what();
    }
  } else {
    rep.reason = "no cache file " + path;
  }
  rep.built = true;
  const auto start = std::chrono::steady_clock::now();

  // A partial build of the same key resumes; anything else starts over.
  const std::string partial = path + ".partial";
  Header h;
  const std::string text = key.to_json().dump();
  h.key = key;
  h.data_offset = data_offset_for(text.size());
  Fd f;
  if (fs::exists(partial)) {
    f.fd = ::open(partial.c_str(), O_RDWR | O_CLOEXEC);
    if (f.fd >= 0) {
      try {
        struct stat st {};
        KDAUG_CHECK(::fstat(f.fd, &st) == 0, "cannot stat");
        const auto old = read_header(f.fd, static_cast<size_t>(st.st_size), partial);
        if (first_difference(old.key, key).empty() && static_cast<size_t>(st.st_size) == expected_size(old) &&
            old.completed <= static_cast<uint64_t>(key.num_images)) {
          h = old;
          rep.resumed = true;
          rep.resumed_from = static_cast<int64_t>(old.completed);
        }
      } catch (const Error&) {
        // unreadable partial file: start over
      }
    }
    if (!rep.resumed) {
      ::close(f.fd);
      f.fd = -1;
    }
  }
  if (!rep.resumed) {
    f.fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    KDAUG_CHECK(f.fd >= 0, "cannot create ", partial, ": ", errno_text());
    char fixed[kFixed] = {};
    std::memcpy(fixed, kMagic, 8);
    const uint32_t version = kVersion, len = static_cast<uint32_t>(text.size());
    std::memcpy(fixed + 8, &version, 4);
    std::memcpy(fixed + 12, &len, 4);
    pwrite_all(f.fd, fixed, kFixed, 0, partial);
    pwrite_all(f.fd, text.data(), text.size(), kFixed, partial);
    KDAUG_CHECK(::ftruncate(f.fd, static_cast<off_t>(expected_size(h))) == 0, "cannot size ", partial, ": ",
                errno_text());
    h.completed = 0;
  }

  const int64_t n = key.num_images;
  if (opts.log != nullptr) {
    *opts.log << "soft-label cache " << path << ": " << (rep.resumed ? "resuming" : "building") << " (" << rep.reason
              << "); " << n << " images x " << key.views << " views, " << key.bytes_per_view() << " bytes per view"
              << (rep.resumed ? ", " + std::to_string(h.completed) + " images done before" : std::string()) << "\n";
  }
  ProgressOptions po;
  po.interactive = opts.interactive;
  po.unit = "view";
  std::ostringstream sink;
  Progress progress(opts.log != nullptr ? *opts.log : sink, "cache", (n - static_cast<int64_t>(h.completed)) * key.views,
                    po);
  const int64_t first = static_cast<int64_t>(h.completed);
  const int64_t chunk = 256;
  for (int64_t begin = first; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    write_chunk(f.fd, h, begin, end, images, views, teacher, partial);
    const uint64_t done = static_cast<uint64_t>(end);
    pwrite_all(f.fd, &done, 8, 16, partial);  // progress is recorded only after the chunk's data
    progress.update((end - first) * key.views);
    if (opts.stop_after_images > 0 && end - first >= opts.stop_after_images && end < n) {
      ::fsync(f.fd);
      rep.complete = false;
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return rep;
    }
  }
  const uint64_t sum = checksum_file(f.fd, h.data_offset, expected_size(h), partial);
  pwrite_all(f.fd, &sum, 8, 24, partial);
  KDAUG_CHECK(::fsync(f.fd) == 0, "cannot flush ", partial, ": ", errno_text());
  ::close(f.fd);
  f.fd = -1;
  fs::rename(partial, path);
  open(path, &key);  // what was written reads back
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  return rep;
}

at::Tensor SoftLabelCache::flat_index(const at::Tensor& idx, const at::Tensor& k) const {
  const auto i = idx.to(at::kCPU, at::kLong);
  const auto v = k.to(at::kCPU, at::kLong);
  KDAUG_CHECK(i.dim() == 1 && v.sizes() == i.sizes(), "soft-label cache: image and view indices must be 1-D of the "
              "same length, got ", i.sizes(), " and ", v.sizes());
  if (i.numel() > 0) {
    KDAUG_CHECK(i.min().item<int64_t>() >= 0 && i.max().item<int64_t>() < key_.num_images,
                "soft-label cache ", path_, ": image index out of range [0, ", key_.num_images, ")");
    KDAUG_CHECK(v.min().item<int64_t>() >= 0 && v.max().item<int64_t>() < key_.views, "soft-label cache ", path_,
                ": view index out of range [0, ", key_.views, ")");
  }
  return i * key_.views + v;
}

at::Tensor SoftLabelCache::seeds(const at::Tensor& idx, const at::Tensor& k) const {
  const auto flat = flat_index(idx, k);
  auto* base = static_cast<char*>(map_) + data_offset_;
  const auto all = at::from_blob(base, {key_.num_images * key_.views}, at::kLong);
  return all.index_select(0, flat);
}

at::Tensor SoftLabelCache::logits(const at::Tensor& idx, const at::Tensor& k) const {
  const auto flat = flat_index(idx, k);
  const int64_t rows = key_.num_images * key_.views;
  const int64_t width = key_.value_width();
  auto* base = static_cast<char*>(map_) + data_offset_ + rows * 8;
  const auto values = at::from_blob(base, {rows, width}, element_type(key_.storage)).index_select(0, flat).to(at::kFloat);
  if (key_.topk == 0) return values;
  auto* ibase = base + rows * width * static_cast<int64_t>(element_bytes(key_.storage));
  const auto cls = at::from_blob(ibase, {rows, key_.topk}, at::kShort).index_select(0, flat).to(at::kLong);
  auto out = values.narrow(1, key_.topk, 1).expand({flat.size(0), key_.num_classes}).contiguous();
  return out.scatter_(1, cls, values.narrow(1, 0, key_.topk));
}

}  // namespace kdaug::distill
