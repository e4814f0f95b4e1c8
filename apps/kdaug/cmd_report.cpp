// kdaug report DIR: one self-contained HTML page (inline SVG charts, PNG images as data URIs, no
// network) for a run directory (kdaug train/run/eval) or an ablation folder (kdaug ablate).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <ostream>

#include "kdaug/command.h"
#include "kdaug/core/io.h"
#include "kdaug/report/html.h"

namespace fs = std::filesystem;

namespace kdaug::cli {
namespace {

struct ReportArgs {
  std::string dir;  // run directory or ablation folder
  std::string out;  // HTML file to write (default DIR/report.html)
};

int report(const ReportArgs& a, const Io& io) {
  const auto html = report::html_report(a.dir);
  const std::string out = a.out.empty() ? (fs::path(a.dir) / "report.html").string() : a.out;
  write_text_atomic(out, html);
  io.out << "wrote " << out << " (" << html.size() << " bytes)\n";
  return 0;
}

const Registration reg("report", "write a self-contained HTML report of a run directory or an ablation folder",
                       [](CLI::App& sub) -> Runner {
                         auto a = std::make_shared<ReportArgs>();
                         sub.add_option("dir", a->dir, "run directory (kdaug train/run) or ablation folder (kdaug ablate)")
                             ->required();
                         sub.add_option("--out", a->out, "HTML file to write (default DIR/report.html)");
                         return [a](const Io& io) { return report(*a, io); };
                       });

}  // namespace
}  // namespace kdaug::cli
