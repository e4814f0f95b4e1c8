// kdaug eval: a checkpoint on the test set: accuracy, NLL, per-class accuracy, confusion matrix.
#include <filesystem>
#include <ostream>

#include "kdaug/common.h"
#include "kdaug/core/io.h"
#include "kdaug/eval/metrics.h"
#include "kdaug/models/checkpoint.h"

namespace fs = std::filesystem;

namespace kdaug::cli {

int cmd_eval(const EvalArgs& a, const Io& io) {
  const auto device = setup_runtime(a.rt, io);
  auto loaded = models::load_model(a.checkpoint, device);
  auto splits = load_data(a.data, a.rt.seed);
  const auto& test = splits.test;
  const auto& spec = loaded.spec;
  KDAUG_CHECK(test.channels() == spec.in_channels && test.num_classes == spec.num_classes,
              "checkpoint ", a.checkpoint, " expects ", spec.in_channels, "-channel images and ", spec.num_classes,
              " classes, but dataset ", a.data.dataset, " has ", test.channels(), " and ", test.num_classes);
  eval::EvalOptions eo;
  eo.batch_size = a.batch_size;
  eo.progress = &io.log;
  eo.interactive = io.interactive;
  const auto report = eval::evaluate(*loaded.model, test, eo);
  nlohmann::json j = {{"checkpoint", a.checkpoint},
                      {"model", spec.to_json()},
                      {"dataset", a.data.dataset},
                      {"clean", eval::to_json(report)},
                      {"provenance", provenance()}};
  const std::string json_path =
      a.json_out.empty() ? (fs::path(a.checkpoint).parent_path() / "eval.json").string() : a.json_out;
  write_text_atomic(json_path, j.dump(2) + "\n");
  io.out << "## " << spec.name << " on " << a.data.dataset << " test (" << report.n << " images)\n\n"
         << eval::to_markdown(report, test.class_names) << "\neval.json: " << json_path << "\n";
  return 0;
}

}  // namespace kdaug::cli
