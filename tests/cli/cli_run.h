// Runs the kdaug command line in-process for the CLI tests: argv as strings, stdout and the log
// (stderr) captured, the exit code returned.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kdaug/cli.h"

namespace kdaug_test {

struct Result {
  int code;
  std::string out, log;
};

// `args` without the program name ("train", "--epochs", "1", ...).
inline Result run(std::vector<std::string> args) {
  args.insert(args.begin(), "kdaug");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, log;
  const int code = kdaug::cli::run(static_cast<int>(argv.size()), argv.data(), {out, log, false});
  return {code, out.str(), log.str()};
}

// The whole file as a string ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kdaug_test
