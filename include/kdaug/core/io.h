// File helpers: atomic writes (temp file + rename) so nothing is ever half-written.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

namespace kdaug {

// Writes `path` atomically: `writer` fills a temporary file in the same directory, which is
// flushed and renamed over `path` only if the writer returns without throwing. Parent
// directories are created. Throws kdaug::Error naming the path on any I/O failure.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);
void write_text_atomic(const std::string& path, const std::string& text);

// Same for writers that need a file name (torch::save, stb): `writer(tmp_path)` must create it.
void write_path_atomic(const std::string& path, const std::function<void(const std::string&)>& writer);

// Reads a whole file; throws kdaug::Error "cannot read <path>: <reason>" when it cannot.
std::string read_text(const std::string& path);

// Throws kdaug::Error naming `what` and the path when the file does not exist or is unreadable.
void require_readable(const std::string& path, const std::string& what);

// Appends one line (plus '\n') to a file, creating it and its directory if needed.
void append_line(const std::string& path, const std::string& line);

}  // namespace kdaug
