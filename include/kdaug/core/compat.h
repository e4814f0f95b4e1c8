// Every LibTorch version difference kdaug depends on, in one place (see shared/LIBTORCH.md).
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>
#include <torch/version.h>

namespace kdaug::compat {

// True when built against LibTorch >= major.minor.
constexpr bool torch_at_least(int major, int minor) {
  return TORCH_VERSION_MAJOR > major || (TORCH_VERSION_MAJOR == major && TORCH_VERSION_MINOR >= minor);
}

// Autocast state of the CPU (cuda = false) or CUDA (cuda = true) device type on this thread.
// The API moved to device-type arguments in 2.4.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
inline c10::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
inline void set_autocast(bool cuda, bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
}
#else
inline bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
inline c10::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void set_autocast(bool cuda, bool enabled, c10::ScalarType dtype) {
  if (cuda) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

// Mixed precision on `device`'s type while alive (bfloat16 convolutions and matrix products,
// LibTorch's autocast lists decide the rest); restores the previous state when it goes out of
// scope, also on an exception, so guards nest (a bf16 teacher inside an fp32 student step).
// enabled = false: forces autocast off inside (an fp32 teacher inside a bf16 student step).
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, c10::Device device, c10::ScalarType dtype = c10::kBFloat16)
      : cuda_(device.is_cuda()), prev_enabled_(autocast_enabled(cuda_)), prev_dtype_(autocast_dtype(cuda_)) {
    set_autocast(cuda_, enabled, dtype);
  }
  ~AutocastGuard() {
    set_autocast(cuda_, prev_enabled_, prev_dtype_);
    // The cast-weight cache is only valid inside one autocast region.
    if (!prev_enabled_) at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool cuda_, prev_enabled_;
  c10::ScalarType prev_dtype_;
};

// `t` in at least fp32: an autocast forward's bf16/fp16 output (logits, features) is widened,
// anything else is returned as it is. Losses take their inputs through it: softmax, log-softmax
// and the sums of a loss run in the input's type (CPU autocast does not widen them), and bf16
// keeps 8 bits of mantissa, too few for the small differences between soft targets that
// distillation learns from. Gradients flow through the cast back into the bf16 graph.
inline at::Tensor at_least_fp32(const at::Tensor& t) {
  return t.defined() && (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf) ? t.to(at::kFloat) : t;
}

}  // namespace kdaug::compat
