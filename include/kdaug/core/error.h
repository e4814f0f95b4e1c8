// kdaug::Error and KDAUG_CHECK: the one way the library reports bad input.
//
// WHAT THIS REPRESENTS: an error caused by input the user can fix (a file, a recipe field, a
// flag value). The message is one line that names the file/field and carries the bad value.
// apps/ catches it and prints "kdaug: error: <message>" with a non-zero exit.
#pragma once

#include <c10/util/StringUtil.h>

#include <stdexcept>
#include <string>

namespace kdaug {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Builds the message from any streamable arguments: KDAUG_FAIL("batch size must be > 0, got ", b).
#define KDAUG_FAIL(...) throw ::kdaug::Error(::c10::str(__VA_ARGS__))

// Checks a condition on user input; the message is built only when it fails.
#define KDAUG_CHECK(cond, ...)  \
  do {                          \
    if (!(cond)) {              \
      KDAUG_FAIL(__VA_ARGS__);  \
    }                           \
  } while (0)

// Turns any exception into the one-line message shown to users (c10::Error without its backtrace).
std::string describe_exception(const std::exception& e);

}  // namespace kdaug
