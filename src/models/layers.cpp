#include "layers.h"

#include <torch/torch.h>

#include <cmath>

#include "kdaug/core/compat.h"
#include "kdaug/core/error.h"

namespace kdaug::models::detail {
namespace {
thread_local int64_t* g_mac_sink = nullptr;

void add_macs(int64_t per_image) {
  if (g_mac_sink != nullptr) *g_mac_sink += per_image;
}
}  // namespace

MacCounter::MacCounter(int64_t* sink) : previous_(g_mac_sink) { g_mac_sink = sink; }
MacCounter::~MacCounter() { g_mac_sink = previous_; }

ConvImpl::ConvImpl(const ConvOptions& o) : opt_(o) {
  TORCH_CHECK(o.in > 0 && o.out > 0 && o.groups > 0 && o.in % o.groups == 0 && o.out % o.groups == 0,
              "bad conv shape: in ", o.in, " out ", o.out, " groups ", o.groups);
  weight = register_parameter("weight", torch::empty({o.out, o.in / o.groups, o.kernel, o.kernel}));
}

at::Tensor ConvImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::conv2d(x, weight, bias, {opt_.stride, opt_.stride}, {opt_.padding, opt_.padding},
                            /*dilation=*/{1, 1}, opt_.groups);
  if (g_mac_sink != nullptr) {
    add_macs(y.size(2) * y.size(3) * opt_.kernel * opt_.kernel * (opt_.in / opt_.groups) * opt_.out);
  }
  return y;
}

void ConvImpl::fold(const torch::nn::BatchNorm2dImpl& bn) {
  TORCH_CHECK(!folded(), "conv already has a BatchNorm folded in");
  TORCH_CHECK(bn.running_mean.defined() && bn.running_mean.size(0) == opt_.out,
              "BatchNorm of ", bn.running_mean.defined() ? bn.running_mean.size(0) : 0,
              " channels cannot fold into a conv of ", opt_.out);
  torch::NoGradGuard no_grad;
  // In double, so that folding adds no rounding beyond the final cast.
  const auto var = bn.running_var.to(at::kDouble);
  const auto scale = bn.weight.to(at::kDouble) / (var + bn.options.eps()).sqrt();
  const auto shift = bn.bias.to(at::kDouble) - bn.running_mean.to(at::kDouble) * scale;
  const auto w = (weight.to(at::kDouble) * scale.reshape({-1, 1, 1, 1})).to(weight.scalar_type());
  weight.set_data(w.contiguous(weight.suggest_memory_format()));
  weight.set_requires_grad(false);
  bias = register_buffer("folded_bias", shift.to(weight.scalar_type()));
}

torch::nn::Sequential fold_sequential(const torch::nn::Sequential& seq, int64_t* count) {
  torch::nn::Sequential out;
  const size_t n = seq->size();
  for (size_t i = 0; i < n; ++i) {
    auto* conv = seq->ptr(i)->as<ConvImpl>();
    auto* bn = i + 1 < n ? seq->ptr(i + 1)->as<torch::nn::BatchNorm2dImpl>() : nullptr;
    out->push_back(seq->begin()[static_cast<std::ptrdiff_t>(i)]);
    if (conv != nullptr && bn != nullptr && !conv->folded()) {
      conv->fold(*bn);
      ++*count;
      ++i;  // the BatchNorm is dropped
    }
  }
  return out;
}

LinearImpl::LinearImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  bias = register_parameter("bias", torch::empty({out}));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  add_macs(weight.size(0) * weight.size(1));
  return at::linear(x, weight, bias);
}

Conv conv3x3(int64_t in, int64_t out, int64_t stride, int64_t groups) {
  return Conv(ConvOptions{in, out, 3, stride, 1, groups});
}
Conv conv1x1(int64_t in, int64_t out, int64_t stride) { return Conv(ConvOptions{in, out, 1, stride, 0, 1}); }

torch::nn::BatchNorm2d batch_norm(int64_t channels) {
  return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels));
}

void init_parameters(torch::nn::Module& module, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* conv = m->as<ConvImpl>()) {
      const auto& o = conv->options();
      const double fan_out = static_cast<double>(o.out * o.kernel * o.kernel);
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out), gen);
    } else if (auto* lin = m->as<LinearImpl>()) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(lin->weight.size(1)));
      lin->weight.uniform_(-bound, bound, gen);
      lin->bias.uniform_(-bound, bound, gen);
    } else if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

ZooModel::ZooModel(const ModelSpec& spec) : ClassifierImpl(spec) {
  const auto c = spec_.in_channels;
  input_mean_ = register_buffer("input_mean", torch::tensor(spec_.mean, torch::kFloat).reshape({1, c, 1, 1}));
  input_std_ = register_buffer("input_std", torch::tensor(spec_.std, torch::kFloat).reshape({1, c, 1, 1}));
}

at::Tensor ZooModel::normalize(const at::Tensor& x) const {
  KDAUG_CHECK(x.dim() == 4 && x.size(1) == spec_.in_channels, spec_.name, " expects input [B, ",
              spec_.in_channels, ", H, W], got ", x.sizes());
  return (x - input_mean_) / input_std_;
}

int64_t ZooModel::fold_batch_norm() {
  if (folded_ >= 0) return 0;
  eval();
  for (auto& p : parameters()) p.set_requires_grad(false);
  folded_ = fold_conv_bn();
  return folded_;
}

at::Tensor global_avg_pool(const at::Tensor& x) { return x.mean({2, 3}); }

at::Tensor classify(Linear& fc, const at::Tensor& features) {
  if (!compat::autocast_enabled(features.is_cuda())) return fc(global_avg_pool(features));
  const compat::AutocastGuard fp32(false, features.device());
  return fc(global_avg_pool(compat::at_least_fp32(features)));
}

}  // namespace kdaug::models::detail
