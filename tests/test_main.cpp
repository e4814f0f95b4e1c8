// Shared GoogleTest entry point: fixes the thread count so results are deterministic.
#include <gtest/gtest.h>

#include "kdaug/core/runtime.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  kdaug::configure_threads(2);
  return RUN_ALL_TESTS();
}
