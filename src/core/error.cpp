#include "kdaug/core/error.h"

#include <c10/util/Exception.h>

namespace kdaug {

std::string describe_exception(const std::exception& e) {
  std::string msg;
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    msg = ce->msg();
  } else {
    msg = e.what();
  }
  // One line: keep the first line only (LibTorch appends source locations on later lines).
  const auto nl = msg.find('\n');
  if (nl != std::string::npos) msg.resize(nl);
  return msg;
}

}  // namespace kdaug
