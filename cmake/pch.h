// Precompiled once per build and reused by every kdaug target: LibTorch's headers dominate
// compile time (~20 s per translation unit when parsed from scratch).
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>
