// Threads and devices: explicit choices, never LibTorch's defaults (which use one intra-op
// thread on machines where it counts physical cores, halving speed on a 2-vCPU machine).
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace kdaug {

// Sets LibTorch's intra-op thread count. n <= 0 means all logical cores. Returns the count set.
int configure_threads(int n);

// Makes LibTorch's operations on the calling thread run on that thread alone (no OpenMP team of
// their own) and returns true, or returns false where the parallel backend is not OpenMP. For
// background threads (the loader's prefetch): each thread that runs a parallel operation gets
// its own OpenMP team of the configured size, so a prefetch thread's team would compete with the
// training step's team for the same cores (20% slower steps on 2 cores). The other threads'
// setting is not changed.
bool make_this_thread_serial();

// Number of logical cores this process may use.
int available_cores();

// Parses "auto", "cpu", "cuda" or "cuda:N". "auto" picks CUDA when the build and machine have it.
// Throws kdaug::Error for an unknown spec or a CUDA device that is not there.
c10::Device select_device(const std::string& spec);

// Which BLAS/LAPACK LibTorch is linked to, and the parallel backend, for run logs.
std::string runtime_summary();

}  // namespace kdaug
