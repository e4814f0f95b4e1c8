#include "kdaug/core/config.h"

#include <algorithm>
#include <sstream>

#include "kdaug/core/io.h"

namespace kdaug::config {

size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: insertions, deletions, substitutions and adjacent transpositions
  // each cost 1, so the commonest typo ("trian" for "train") is one edit away.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string closest(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : known) {
    const size_t d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  // A likely typo: at most a third of the letters differ (and at least one edit is allowed).
  return best_d <= std::max<size_t>(1, key.size() / 3) ? best : "";
}

std::string join(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

void check_keys(const YAML::Node& node, const std::vector<std::string>& known, const std::string& where) {
  if (!node || node.IsNull()) return;
  KDAUG_CHECK(node.IsMap(), where.empty() ? "recipe" : where, ": expected a map of keys, got '", YAML::Dump(node),
              "'");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::ostringstream msg;
    msg << join(where, key) << ": unknown key";
    const auto guess = closest(key, known);
    if (!guess.empty()) msg << " (did you mean " << guess << "?)";
    msg << "; known keys:";
    for (size_t i = 0; i < known.size(); ++i) msg << (i ? ", " : " ") << known[i];
    throw Error(msg.str());
  }
}

namespace {
template <typename T>
const char* type_name();
template <> const char* type_name<double>() { return "a number"; }
template <> const char* type_name<int64_t>() { return "an integer"; }
template <> const char* type_name<uint64_t>() { return "a non-negative integer"; }
template <> const char* type_name<int>() { return "an integer"; }
template <> const char* type_name<bool>() { return "true or false"; }
template <> const char* type_name<std::string>() { return "a string"; }
template <> const char* type_name<std::vector<double>>() { return "a list of numbers"; }
template <> const char* type_name<std::vector<std::string>>() { return "a list of strings"; }
}  // namespace

template <typename T>
T get(const YAML::Node& node, const std::string& key, const T& fallback, const std::string& where) {
  if (!node || !node.IsMap()) return fallback;
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return fallback;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    KDAUG_FAIL(join(where, key), ": expected ", type_name<T>(), ", got '", YAML::Dump(v), "'");
  }
}

template double get<double>(const YAML::Node&, const std::string&, const double&, const std::string&);
template int64_t get<int64_t>(const YAML::Node&, const std::string&, const int64_t&, const std::string&);
template uint64_t get<uint64_t>(const YAML::Node&, const std::string&, const uint64_t&, const std::string&);
template int get<int>(const YAML::Node&, const std::string&, const int&, const std::string&);
template bool get<bool>(const YAML::Node&, const std::string&, const bool&, const std::string&);
template std::string get<std::string>(const YAML::Node&, const std::string&, const std::string&, const std::string&);
template std::vector<double> get<std::vector<double>>(const YAML::Node&, const std::string&,
                                                      const std::vector<double>&, const std::string&);
template std::vector<std::string> get<std::vector<std::string>>(const YAML::Node&, const std::string&,
                                                                const std::vector<std::string>&,
                                                                const std::string&);

void apply_override(YAML::Node& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  KDAUG_CHECK(eq != std::string::npos && eq > 0, "--set expects key.path=value, got '", assignment, "'");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    KDAUG_CHECK(!k.empty(), "--set: empty key in path '", path, "'");
    keys.push_back(k);
  }
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    KDAUG_FAIL("--set ", path, ": cannot parse value '", text, "': ", e.msg);
  }
  // yaml-cpp's operator[] on a non-const node returns a reference-like handle; walk with copies.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node parent = chain.back();
    KDAUG_CHECK(!parent[keys[i]] || parent[keys[i]].IsMap() || parent[keys[i]].IsNull(), "--set ", path, ": ",
                keys[i], " is not a map");
    if (!parent[keys[i]] || parent[keys[i]].IsNull()) parent[keys[i]] = YAML::Node(YAML::NodeType::Map);
    chain.push_back(parent[keys[i]]);
  }
  YAML::Node last = chain.back();
  last[keys.back()] = value;
}

YAML::Node load_file(const std::string& path) {
  require_readable(path, "recipe");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    KDAUG_FAIL("recipe ", path, ": YAML error at line ", e.mark.line + 1, ": ", e.msg);
  }
}

}  // namespace kdaug::config
