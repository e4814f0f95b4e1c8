// kdaug corruptions-preview: one test image under every corruption (rows) at every severity
// (columns, after the clean image), as a PNG.
#include <CLI/CLI.hpp>

#include <memory>
#include <ostream>

#include "kdaug/command.h"
#include "kdaug/common.h"
#include "kdaug/eval/corruptions.h"

namespace kdaug::cli {
namespace {

struct CorruptionsPreviewArgs {
  RuntimeArgs rt;           // --seed picks the corruptions' random draws
  DataArgs data;
  std::string out;          // PNG to write
  int64_t index = 0;        // test image to show
  int64_t scale = 3;        // enlargement (nearest neighbour)
};

int corruptions_preview(const CorruptionsPreviewArgs& a, const Io& io) {
  KDAUG_CHECK(!a.out.empty(), "--out must name a PNG file");
  setup_runtime(a.rt, io);
  auto d = a.data;
  d.val_size = 0;  // only the test set is used
  const auto splits = load_data(d, a.rt.seed);
  const auto& test = splits.test;
  KDAUG_CHECK(a.index >= 0 && a.index < test.size(), "--index must be in [0, ", test.size(), "), got ", a.index);
  eval::write_corruptions_preview(a.out, test.images[a.index], a.rt.seed, a.scale);
  const auto names = eval::corruption_names();
  io.out << "wrote " << a.out << ": test image " << a.index << " (label "
         << (test.class_names.empty() ? std::to_string(test.labels[a.index].item<int64_t>())
                                      : test.class_names.at(static_cast<size_t>(test.labels[a.index].item<int64_t>())))
         << "), rows:";
  for (const auto& n : names) io.out << " " << n;
  io.out << "; columns: clean, severity 1..5\n";
  return 0;
}

const Registration reg("corruptions-preview", "draw one test image under every corruption and severity (PNG grid)",
                       [](CLI::App& sub) -> Runner {
                         auto a = std::make_shared<CorruptionsPreviewArgs>();
                         add_runtime(sub, a->rt);
                         add_data(sub, a->data);
                         sub.add_option("--out", a->out, "PNG to write")->required();
                         sub.add_option("--index", a->index, "test image index")->capture_default_str();
                         sub.add_option("--scale", a->scale, "enlargement factor (1..16)")->capture_default_str();
                         return [a](const Io& io) { return corruptions_preview(*a, io); };
                       });

}  // namespace
}  // namespace kdaug::cli
