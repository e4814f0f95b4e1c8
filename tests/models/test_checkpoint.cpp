// Checkpoints: round trip, extra state, and every way a file can be wrong.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "kdaug/core/error.h"
#include "kdaug/core/rng.h"
#include "kdaug/models/checkpoint.h"
#include "kdaug/models/registry.h"

namespace fs = std::filesystem;
namespace km = kdaug::models;

namespace {

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kdaug_test_models_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

km::ModelSpec spec_of(const std::string& name, int64_t classes = 10) {
  km::ModelSpec s;
  s.name = name;
  s.num_classes = classes;
  s.height = s.width = 12;
  return s;
}

at::Tensor images(int64_t b, uint64_t seed = 1) {
  at::Generator gen = kdaug::make_generator(seed);
  return torch::rand({b, 1, 12, 12}, gen, torch::kFloat);
}

template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no kdaug::Error thrown; expected one mentioning " << *parts.begin();
  } catch (const kdaug::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

bool same_state(km::ClassifierImpl& a, km::ClassifierImpl& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  if (pa.size() != pb.size() || ba.size() != bb.size()) return false;
  for (const auto& p : pa) {
    if (!pb.contains(p.key()) || !torch::equal(p.value(), pb[p.key()])) return false;
  }
  for (const auto& q : ba) {
    if (!bb.contains(q.key()) || !torch::equal(q.value(), bb[q.key()])) return false;
  }
  return true;
}

// A model whose BN running statistics have moved away from their initial values.
km::Classifier trained_model(const std::string& name, uint64_t seed) {
  auto m = km::make_model(spec_of(name), seed);
  torch::NoGradGuard no_grad;
  m->train();
  m->forward(images(4, seed + 100));
  m->eval();
  return m;
}

void write_bytes(const std::string& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

std::string read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_F(Checkpoint, RoundTripGivesIdenticalLogitsSpecAndMeta) {
  for (const std::string name : {"resnet8", "vgg11_bn", "mobilenetv2", "wrn_10_2"}) {
    SCOPED_TRACE(name);
    auto model = trained_model(name, 4);
    const std::string file = path(name + "/model.pt");  // parent directory created on save
    km::save_model(file, *model, {{"epoch", 3}, {"note", "x"}});
    km::LoadedModel loaded = km::load_model(file);
    EXPECT_TRUE(same_state(*model, *loaded.model));
    EXPECT_EQ(loaded.spec.to_json(), model->spec().to_json());
    EXPECT_EQ(loaded.model->spec().to_json(), model->spec().to_json());
    EXPECT_EQ(loaded.meta["epoch"], 3);
    EXPECT_FALSE(loaded.model->is_training());
    torch::NoGradGuard no_grad;
    const at::Tensor x = images(3, 9);
    EXPECT_TRUE(torch::equal(model->forward(x), loaded.model->forward(x)));
  }
  // Written atomically: nothing but the checkpoints is left in the directory.
  int64_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 4);
}

TEST_F(Checkpoint, ExtraStateTravelsWithTheModel) {
  auto model = trained_model("resnet8", 1);
  const at::Tensor state = torch::arange(5, torch::kFloat);
  km::save_model(path("m.pt"), *model, {}, [&](torch::serialize::OutputArchive& ar) {
    torch::serialize::OutputArchive nested;
    nested.write("momentum", state);
    ar.write("optimizer", nested);
    ar.write("epoch", c10::IValue(int64_t{7}));
  });
  at::Tensor got;
  int64_t epoch = -1;
  auto loaded = km::load_model(path("m.pt"), c10::kCPU, [&](torch::serialize::InputArchive& ar) {
    torch::serialize::InputArchive nested;
    ar.read("optimizer", nested);
    nested.read("momentum", got);
    c10::IValue e;
    ar.read("epoch", e);
    epoch = e.toInt();
  });
  EXPECT_TRUE(torch::equal(got, state));
  EXPECT_EQ(epoch, 7);
  EXPECT_TRUE(loaded.meta.is_object());
  // A reader asking for a key that is not there gets a kdaug::Error naming the checkpoint.
  expect_error([&] {
    km::load_model(path("m.pt"), c10::kCPU, [](torch::serialize::InputArchive& ar) {
      c10::IValue v;
      ar.read("scheduler", v);
    });
  }, {path("m.pt"), "extra state"});
}

TEST_F(Checkpoint, LoadWeightsIntoAnExistingModel) {
  auto source = trained_model("resnet8", 1);
  km::save_model(path("m.pt"), *source);
  auto target = km::make_model(spec_of("resnet8"), 2);
  EXPECT_FALSE(same_state(*source, *target));
  km::load_weights_into(*target, path("m.pt"));
  EXPECT_TRUE(same_state(*source, *target));
}

TEST_F(Checkpoint, WrongModelIsRejected) {
  auto source = trained_model("resnet8", 1);
  km::save_model(path("m.pt"), *source);
  auto other = km::make_model(spec_of("resnet20"), 2);
  expect_error([&] { km::load_weights_into(*other, path("m.pt")); },
               {path("m.pt"), "belongs to model resnet8, not resnet20"});
  // Same name, different head: the shape mismatch is named, and the model is left untouched.
  auto wide = km::make_model(spec_of("resnet8", 100), 2);
  auto before = km::make_model(spec_of("resnet8", 100), 2);
  expect_error([&] { km::load_weights_into(*wide, path("m.pt")); },
               {path("m.pt"), "holds resnet8", "fc.weight", "[10, 64]", "expected [100, 64]"});
  EXPECT_TRUE(same_state(*wide, *before));
}

TEST_F(Checkpoint, MissingTruncatedAndForeignFilesAreRejected) {
  expect_error([&] { km::load_model(path("none.pt")); }, {"not found", path("none.pt")});

  auto model = trained_model("resnet8", 1);
  km::save_model(path("m.pt"), *model);
  const std::string bytes = read_bytes(path("m.pt"));
  ASSERT_GT(bytes.size(), 1000u);
  write_bytes(path("half.pt"), bytes.substr(0, bytes.size() / 2));
  expect_error([&] { km::load_model(path("half.pt")); }, {path("half.pt"), "corrupt"});
  write_bytes(path("tail.pt"), bytes.substr(0, bytes.size() - 30));
  expect_error([&] { km::load_model(path("tail.pt")); }, {path("tail.pt")});

  at::Generator gen = kdaug::make_generator(5);
  const at::Tensor noise = torch::randint(0, 256, {4096}, gen, torch::kUInt8);
  write_bytes(path("noise.pt"), std::string(reinterpret_cast<const char*>(noise.data_ptr<uint8_t>()), 4096));
  expect_error([&] { km::load_model(path("noise.pt")); }, {path("noise.pt"), "corrupt"});
  write_bytes(path("empty.pt"), "");
  expect_error([&] { km::load_model(path("empty.pt")); }, {path("empty.pt")});

  // A valid torch archive that is not a kdaug checkpoint.
  torch::serialize::OutputArchive foreign;
  foreign.write("weights", torch::ones({3}));
  foreign.save_to(path("foreign.pt"));
  expect_error([&] { km::load_model(path("foreign.pt")); }, {path("foreign.pt"), "not a kdaug checkpoint"});

  // Right tag, wrong version.
  torch::serialize::OutputArchive future;
  future.write("format", c10::IValue(std::string("kdaug-model-v9")));
  future.save_to(path("future.pt"));
  expect_error([&] { km::load_model(path("future.pt")); }, {path("future.pt"), "kdaug-model-v9"});

  // A checkpoint whose weights do not fit its own spec (a hand-edited or mixed-up file).
  torch::serialize::OutputArchive mixed;
  mixed.write("format", c10::IValue(std::string(km::kCheckpointFormat)));
  mixed.write("spec", c10::IValue(spec_of("resnet14").to_json().dump()));
  mixed.write("meta", c10::IValue(std::string("{}")));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  mixed.write("model", weights);
  mixed.save_to(path("mixed.pt"));
  expect_error([&] { km::load_model(path("mixed.pt")); }, {path("mixed.pt"), "holds resnet14", "without"});

  // A bad spec inside the header.
  torch::serialize::OutputArchive badspec;
  badspec.write("format", c10::IValue(std::string(km::kCheckpointFormat)));
  badspec.write("spec", c10::IValue(std::string("{\"name\": \"resnet9\"}")));
  badspec.write("meta", c10::IValue(std::string("{}")));
  badspec.save_to(path("badspec.pt"));
  expect_error([&] { km::load_model(path("badspec.pt")); }, {path("badspec.pt"), "resnet9"});
}
