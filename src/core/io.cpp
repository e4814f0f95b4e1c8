#include "kdaug/core/io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "kdaug/core/error.h"

namespace fs = std::filesystem;

namespace kdaug {
namespace {
std::string temp_name(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}
void ensure_parent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  KDAUG_CHECK(!ec, "cannot create directory ", parent.string(), ": ", ec.message());
}
}  // namespace

void write_path_atomic(const std::string& path, const std::function<void(const std::string&)>& writer) {
  ensure_parent(path);
  const std::string tmp = temp_name(path);
  try {
    writer(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    KDAUG_FAIL("cannot write ", path, ": ", ec.message());
  }
}

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  write_path_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    KDAUG_CHECK(out.good(), "cannot write ", path, ": ", std::strerror(errno));
    writer(out);
    out.flush();
    KDAUG_CHECK(out.good(), "cannot write ", path, ": write failed (disk full?)");
  });
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

void require_readable(const std::string& path, const std::string& what) {
  std::error_code ec;
  KDAUG_CHECK(fs::exists(path, ec), what, " not found: ", path);
  KDAUG_CHECK(!fs::is_directory(path, ec), what, " is a directory, expected a file: ", path);
  std::ifstream in(path, std::ios::binary);
  KDAUG_CHECK(in.good(), "cannot read ", what, " ", path, ": ", std::strerror(errno));
}

std::string read_text(const std::string& path) {
  require_readable(path, "file");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void append_line(const std::string& path, const std::string& line) {
  ensure_parent(path);
  std::ofstream out(path, std::ios::app);
  KDAUG_CHECK(out.good(), "cannot append to ", path, ": ", std::strerror(errno));
  out << line << '\n';
}

}  // namespace kdaug
