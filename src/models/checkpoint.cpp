#include "kdaug/models/checkpoint.h"

#include <torch/torch.h>

#include <sstream>
#include <utility>

#include "kdaug/core/error.h"
#include "kdaug/core/io.h"
#include "kdaug/models/registry.h"

namespace kdaug::models {
namespace {

std::string describe(const ModelSpec& s) {
  std::ostringstream ss;
  ss << s.name << " (" << s.in_channels << "x" << s.height << "x" << s.width << ", " << s.num_classes
     << " classes, width_mult " << s.width_mult << ")";
  return ss.str();
}

// Module::save's layout (one nested archive per child module), with every tensor copied to the
// CPU so that a checkpoint written on a GPU loads on a CPU-only machine.
void save_module(const torch::nn::Module& m, torch::serialize::OutputArchive& ar) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) ar.write(p.key(), p.value().detach().cpu(), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) ar.write(b.key(), b.value().cpu(), true);
  for (const auto& c : m.named_children()) {
    torch::serialize::OutputArchive child;
    save_module(*c.value(), child);
    ar.write(c.key(), child);
  }
}

// One destination tensor of the model and the checkpoint tensor that will overwrite it.
using Assignment = std::pair<at::Tensor, at::Tensor>;

// Pairs every parameter and buffer of `m` with the checkpoint's tensor of the same name,
// checking presence and shape; nothing is written yet, so a failed load leaves the model as it was.
void collect(torch::nn::Module& m, torch::serialize::InputArchive& ar, const std::string& prefix,
             const std::string& path, const std::string& ckpt_desc, const std::string& model_desc,
             std::vector<Assignment>& out) {
  const auto match = [&](const std::string& key, const at::Tensor& dst, bool is_buffer) {
    const std::string full = prefix + key;
    at::Tensor src;
    KDAUG_CHECK(ar.try_read(key, src, is_buffer), "checkpoint ", path, " holds ", ckpt_desc, " without ",
                is_buffer ? "buffer " : "parameter ", full, " expected by ", model_desc);
    KDAUG_CHECK(src.sizes() == dst.sizes(), "checkpoint ", path, " holds ", ckpt_desc, ": ", full, " has shape ",
                src.sizes(), ", expected ", dst.sizes(), " by ", model_desc);
    out.emplace_back(dst, src);
  };
  for (const auto& p : m.named_parameters(/*recurse=*/false)) match(p.key(), p.value(), false);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) match(b.key(), b.value(), true);
  for (const auto& c : m.named_children()) {
    torch::serialize::InputArchive child;
    KDAUG_CHECK(ar.try_read(c.key(), child), "checkpoint ", path, " holds ", ckpt_desc, " without module ",
                prefix + c.key(), " expected by ", model_desc);
    collect(*c.value(), child, prefix + c.key() + ".", path, ckpt_desc, model_desc, out);
  }
}

std::string read_string(torch::serialize::InputArchive& ar, const std::string& key, const std::string& path) {
  c10::IValue v;
  KDAUG_CHECK(ar.try_read(key, v) && v.isString(), "checkpoint ", path, " is not a kdaug checkpoint (no '", key,
              "' entry)");
  return v.toStringRef();
}

// An opened checkpoint with its header already validated.
struct Opened {
  torch::serialize::InputArchive archive;
  ModelSpec spec;
  nlohmann::json meta;
};

void open_checkpoint(const std::string& path, Opened& o) {
  require_readable(path, "checkpoint");
  try {
    o.archive.load_from(path, c10::Device(c10::kCPU));
  } catch (const std::exception& e) {
    KDAUG_FAIL("checkpoint ", path, " is corrupt or not a kdaug checkpoint: ", describe_exception(e));
  }
  const std::string format = read_string(o.archive, "format", path);
  KDAUG_CHECK(format == kCheckpointFormat, "checkpoint ", path, " has format '", format, "', expected '",
              kCheckpointFormat, "'");
  try {
    o.spec = ModelSpec::from_json(nlohmann::json::parse(read_string(o.archive, "spec", path)));
    o.meta = nlohmann::json::parse(read_string(o.archive, "meta", path));
    check_model_spec(o.spec);
  } catch (const std::exception& e) {
    KDAUG_FAIL("checkpoint ", path, " has a bad header: ", describe_exception(e));
  }
}

void load_weights(ClassifierImpl& model, Opened& o, const std::string& path) {
  torch::serialize::InputArchive weights;
  std::vector<Assignment> assignments;
  try {
    KDAUG_CHECK(o.archive.try_read("model", weights), "checkpoint ", path, " has no 'model' entry");
    collect(model, weights, "", path, describe(o.spec), describe(model.spec()), assignments);
  } catch (const kdaug::Error&) {
    throw;
  } catch (const std::exception& e) {
    KDAUG_FAIL("checkpoint ", path, " is corrupt: ", describe_exception(e));
  }
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : assignments) dst.copy_(src);
}

}  // namespace

void save_model(const std::string& path, ClassifierImpl& model, const nlohmann::json& meta,
                const std::function<void(torch::serialize::OutputArchive&)>& extra) {
  write_path_atomic(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive ar;
    ar.write("format", c10::IValue(std::string(kCheckpointFormat)));
    ar.write("spec", c10::IValue(model.spec().to_json().dump()));
    ar.write("meta", c10::IValue(meta.is_null() ? std::string("{}") : meta.dump()));
    torch::serialize::OutputArchive weights;
    save_module(model, weights);
    ar.write("model", weights);
    if (extra) extra(ar);
    try {
      ar.save_to(tmp);
    } catch (const c10::Error& e) {
      KDAUG_FAIL("cannot write checkpoint ", path, ": ", describe_exception(e));
    }
  });
}

LoadedModel load_model(const std::string& path, c10::Device device,
                       const std::function<void(torch::serialize::InputArchive&)>& extra) {
  Opened o;
  open_checkpoint(path, o);
  LoadedModel out{make_model(o.spec, 0), o.spec, o.meta};
  load_weights(*out.model, o, path);
  if (extra) {
    try {
      extra(o.archive);
    } catch (const kdaug::Error&) {
      throw;
    } catch (const std::exception& e) {
      KDAUG_FAIL("checkpoint ", path, ": cannot read the extra state: ", describe_exception(e));
    }
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

void load_weights_into(ClassifierImpl& model, const std::string& path) {
  Opened o;
  open_checkpoint(path, o);
  KDAUG_CHECK(o.spec.name == model.spec().name, "checkpoint ", path, " belongs to model ", o.spec.name, ", not ",
              model.spec().name);
  load_weights(model, o, path);
}

}  // namespace kdaug::models
