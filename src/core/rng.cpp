#include "kdaug/core/rng.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace kdaug {
namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

at::Generator make_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

uint64_t derive_seed(uint64_t base, std::string_view stream, uint64_t index) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the stream name
  for (char c : stream) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return splitmix64(splitmix64(base ^ h) + index) >> 1;
}

uint64_t draw_seed(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64() >> 1;
}

}  // namespace kdaug
