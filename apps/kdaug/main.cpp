// kdaug: knowledge distillation + data augmentation for compact image classifiers.
#include <unistd.h>

#include <iostream>

#include "kdaug/cli.h"

int main(int argc, char** argv) {
  const bool interactive = ::isatty(STDERR_FILENO) != 0;
  return kdaug::cli::run(argc, argv, kdaug::cli::Io{std::cout, std::cerr, interactive});
}
