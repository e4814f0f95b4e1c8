// Seeding: every random choice in kdaug takes a torch::Generator derived from the recipe seed.
#pragma once

#include <ATen/core/Generator.h>

#include <cstdint>
#include <string_view>

namespace kdaug {

// A CPU generator seeded with `seed` (same seed => same stream on every run).
at::Generator make_generator(uint64_t seed);

// Derives an independent seed for a named stream ("shuffle", "augment", "init", ...) and an
// index (epoch, rank): splitmix64 over the base seed, a string hash and the index.
uint64_t derive_seed(uint64_t base, std::string_view stream, uint64_t index = 0);

// Draws a 63-bit seed from a generator (to seed a child generator).
uint64_t draw_seed(at::Generator& gen);

}  // namespace kdaug
