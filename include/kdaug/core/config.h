// YAML recipe helpers: typed reads with errors that name the key path, unknown-key detection with
// a "did you mean" suggestion, and `--set key.path=value` overrides.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "kdaug/core/error.h"

namespace kdaug::config {

// Levenshtein distance, for suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
// The closest of `known` to `key` when it is close enough to be a likely typo, else "".
std::string closest(const std::string& key, const std::vector<std::string>& known);

// Throws kdaug::Error "<where>.<key>: unknown key (did you mean <k>?; known: ...)" for the first key of
// the map `node` that is not in `known`. A null/undefined node passes; a non-map node is an error.
void check_keys(const YAML::Node& node, const std::vector<std::string>& known, const std::string& where);

// Joins a path: join("train", "lr") == "train.lr"; join("", "lr") == "lr".
std::string join(const std::string& where, const std::string& key);

// Reads node[key] as T when present (else returns `fallback`); a value of the wrong type throws
// kdaug::Error "<where>.<key>: expected <what>, got '<text>'".
template <typename T>
T get(const YAML::Node& node, const std::string& key, const T& fallback, const std::string& where);

// Applies "a.b.c=value" to a YAML tree (creating maps on the way); the value is parsed as YAML
// (numbers, lists "[1,2]", maps). Throws kdaug::Error for text without '=' or an empty path.
void apply_override(YAML::Node& root, const std::string& assignment);

// Loads a YAML file; throws kdaug::Error naming the file (and line) when missing or malformed.
YAML::Node load_file(const std::string& path);

}  // namespace kdaug::config
