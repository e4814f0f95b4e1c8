// Commands that live in their own file register themselves here, so that adding a command
// touches only that file: the registration declares the subcommand's options (CLI11) and
// returns the function that runs it once argv has been parsed.
//
//   namespace {
//   const kdaug::cli::Registration reg("augment-preview", "draw x, x' and x'' as a PNG grid",
//       [](CLI::App& sub) -> kdaug::cli::Runner {
//         auto a = std::make_shared<PreviewArgs>();
//         kdaug::cli::add_runtime(sub, a->rt);
//         sub.add_option("--out", a->out, "PNG to write")->required();
//         return [a](const kdaug::cli::Io& io) { return preview(*a, io); };
//       });
//   }
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kdaug/cli.h"

namespace CLI {
class App;
}

namespace kdaug::cli {

using Runner = std::function<int(const Io&)>;
using Adder = std::function<Runner(CLI::App& sub)>;

struct Registration {
  Registration(std::string name, std::string help, Adder add);
};

struct RegisteredCommand {
  std::string name, help;
  Adder add;
};
// Every registered command, sorted by name.
std::vector<RegisteredCommand> registered_commands();

// The option groups shared by commands.
void add_runtime(CLI::App& app, RuntimeArgs& rt);
void add_data(CLI::App& app, DataArgs& d);

}  // namespace kdaug::cli
