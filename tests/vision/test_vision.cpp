// Image networks through the torch-free interface (vision.h): backbones, training on a planted
// task, early stopping and checkpoints, determinism, freezing, TorchScript, losses, and the
// program's independence from libtorch.
#include <gtest/gtest.h>

#include <algorithm>  // for max_element
#include <cmath>
#include <cstdio>   // for popen
#include <cstdlib>  // for system
#include <filesystem>
#include <fstream>
#include <numeric>  // for accumulate
#include <random>

#include "planted_squares.h"
#include "test_device.h"
#include "test_paths.h"
#include "vision/trainer_detail.h"
#include "woundphase/metrics.h"
#include "woundphase/vision.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;
using testing::planted_squares;
using testing::scratch_dir;

constexpr int kSize = 32;
ImageBatch random_images(int n, int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ImageBatch b(n, kSize, channels);
  for (auto& p : b.pixels) p = static_cast<uint8_t>(rng());
  return b;
}

VisionSettings quick_settings() { return testing::quick_vision_settings(kSize, 5, 32, 7); }

long total_params(const ImageModel& m, bool trainable_only) {
  long sum = 0;
  for (const auto& layer : m.parameter_breakdown())
    sum += trainable_only ? layer.trainable : layer.total;
  return sum;
}

std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

// ---- Settings ----------------------------------------------------------------------------------

TEST(VisionSettings, DefaultsAreValidAndErrorsNameTheOption) {
  EXPECT_NO_THROW(VisionSettings{}.validate());
  auto message = [](auto mutate) {
    VisionSettings s;
    mutate(s);
    try {
      s.validate();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message([](VisionSettings& s) { s.backbone = "vgg"; }).find("--backbone"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) {
              s.backbone = "torchscript:/no/such.pt";
            }).find("/no/such.pt"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.image_size = 48; }).find("--image-size"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.epochs = 0; }).find("--epochs"), std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.batch_size = 1; }).find("--batch-size"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.learning_rate = 0; }).find("--image-learning-rate"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.focal_gamma = -1; }).find("--focal-gamma"),
            std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.dropout = 1; }).find("--dropout"), std::string::npos);
  EXPECT_NE(message([](VisionSettings& s) { s.threads = 0; }).find("--threads"), std::string::npos);
  EXPECT_THROW(parse_vision_loss("mse"), InputError);
  EXPECT_EQ(parse_vision_device("multi"), VisionDevice::kMulti);
  EXPECT_EQ(std::string(to_string(parse_vision_loss("focal"))), "focal");
  EXPECT_EQ(parse_vision_device("cuda:3"), VisionDevice::kCuda);
  EXPECT_EQ(parse_device_index("cuda:3"), 3);
  EXPECT_EQ(parse_device_index("cuda"), 0);
  for (const char* bad : {"cuda:", "cuda:x", "cuda:-1", "cuda:256", "cuda:1000"})
    EXPECT_THROW(parse_vision_device(bad), InputError) << bad;
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_EQ(std::string(to_string(Precision::kFp16)), "fp16");
  EXPECT_THROW(parse_precision("fp8"), InputError);
  // Mixed precision is autocast on CUDA; on the CPU it is refused, not ignored.
  EXPECT_NE(message([](VisionSettings& s) { s.precision = Precision::kBf16; }).find("--precision"),
            std::string::npos);
  EXPECT_EQ(message([](VisionSettings& s) {
              s.device = VisionDevice::kCuda;
              s.precision = Precision::kFp16;
            }),
            "");
}

TEST(VisionSettings, CudaOnACpuBuildIsAClearError) {
  VisionSettings s = quick_settings();
  if (s.device != VisionDevice::kCpu) GTEST_SKIP() << "the cases run on a GPU (bench/gpu.sh)";
  s.device = VisionDevice::kCuda;
  try {
    create_image_model(s, 1);
    GTEST_SKIP() << "a CUDA device is available";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
  }
}

// ---- Backbones ---------------------------------------------------------------------------------

struct BackboneCase {
  const char* name;
  int dim;
  long params_rgb;        // backbone parameters for 3 channels (torchvision's count without its fc)
  long stem_per_channel;  // weights of the first convolution per input channel
};

TEST(VisionBackbones, EachBuildsRunsAndMatchesTorchvisionParameterCounts) {
  const BackboneCase cases[] = {
      // torchvision 0.14: sum(p.numel() for p in m.features.parameters()) (resnet18: all but fc)
      {"simple", 128, 3 * 9 * 32 + 2 * 32 + 32 * 9 * 64 + 2 * 64 + 64 * 9 * 128 + 2 * 128, 9 * 32},
      {"resnet18", 512, 11176512, 49 * 64},
      {"densenet121", 1024, 6953856, 49 * 64},
      {"efficientnet_b0", 1280, 4007548, 9 * 32},
      {"efficientnet_b1", 1280, 6513184, 9 * 32},
      {"efficientnet_b2", 1408, 7700994, 9 * 32},
      {"efficientnet_b3", 1536, 10696232, 9 * 40},
  };
  for (const auto& c : cases) {
    for (int channels : {1, 3}) {
      SCOPED_TRACE(std::string(c.name) + " channels " + std::to_string(channels));
      VisionSettings s = quick_settings();
      s.backbone = c.name;
      auto model = create_image_model(s, channels);
      EXPECT_EQ(model->embedding_dim(), c.dim);
      const ImageBatch images = random_images(2, channels, 1);
      const Probabilities p = model->predict_proba(images);
      ASSERT_EQ(p.size(), 2u * kNumClasses);
      for (int i = 0; i < 2; ++i) {
        const double sum = p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2];
        EXPECT_NEAR(sum, 1.0, 1e-6);
      }
      EXPECT_EQ(model->embed(images).size(), 2u * c.dim);

      const auto layers = model->parameter_breakdown();
      ASSERT_GE(layers.size(), 2u);
      EXPECT_EQ(layers.back().name, "head");
      EXPECT_EQ(layers.back().total, c.dim * kNumClasses + kNumClasses);
      EXPECT_EQ(layers.front().name.rfind("backbone.", 0), 0u) << layers.front().name;
      // The stem sees `channels` inputs: its first convolution has channels/3 of the RGB weights.
      const long stem_rgb_delta = (3 - channels) * c.stem_per_channel;
      EXPECT_EQ(total_params(*model, false) - layers.back().total, c.params_rgb - stem_rgb_delta);
      EXPECT_EQ(total_params(*model, true), total_params(*model, false));
    }
  }
}

// ---- Training ----------------------------------------------------------------------------------

TEST(VisionTraining, LearnsAPlantedTask) {
  const LabelledImages train = planted_squares(300, kSize, 1, 1);
  const LabelledImages val = planted_squares(90, kSize, 1, 2);
  VisionSettings s = quick_settings();
  auto model = create_image_model(s, 1);
  std::vector<EpochReport> seen;
  FitHooks hooks;
  hooks.on_epoch = [&](const EpochReport& r) { seen.push_back(r); };
  const TrainingHistory h = model->fit(train, val, s, hooks);
  ASSERT_EQ(seen.size(), h.epochs.size());
  EXPECT_EQ(static_cast<int>(h.epochs.size()), s.epochs);
  EXPECT_EQ(h.epochs[0].train_images, 300);
  EXPECT_LT(h.epochs.back().train_loss, h.epochs.front().train_loss);
  const EpochReport& best = h.epochs[h.best_epoch - 1];
  EXPECT_GE(best.val_qwk, 0.9);

  // The restored model scores as its best epoch did.
  const Probabilities p = model->predict_proba(val.images);
  std::vector<int> truth = val.labels, pred = argmax(p);
  EXPECT_NEAR(quadratic_weighted_kappa(confusion_matrix(truth, pred)), best.val_qwk, 1e-9);
}

TEST(VisionTraining, GroupsVisitEachGroupOnceAndScoreGroupMeans) {
  LabelledImages train = planted_squares(240, kSize, 3, 3);
  for (int i = 0; i < train.images.count; ++i) train.groups.push_back(i % 60);  // 4 views each
  for (int i = 0; i < train.images.count; ++i) train.labels[i] = (i % 60) % kNumClasses;
  LabelledImages val = planted_squares(60, kSize, 3, 4);
  val.groups.assign(60, 0);
  for (int i = 0; i < 60; ++i) val.groups[i] = i % 20;
  for (int i = 0; i < 60; ++i) val.labels[i] = (i % 20) % kNumClasses;
  VisionSettings s = quick_settings();
  s.epochs = 1;
  auto model = create_image_model(s, 3);
  const TrainingHistory h = model->fit(train, val, s);
  EXPECT_EQ(h.epochs[0].train_images, 60);

  LabelledImages mixed = planted_squares(4, kSize, 1, 5);
  mixed.groups = {0, 0, 1, 1};  // group 0 holds labels 0 and 1
  try {
    create_image_model(s, 1)->fit(mixed, {}, s);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("group 0"), std::string::npos) << e.what();
  }
}

TEST(VisionTraining, BadInputIsAnInputErrorAcrossTheLibraryBoundary) {
  VisionSettings s = quick_settings();
  auto model = create_image_model(s, 1);
  LabelledImages bad = planted_squares(10, kSize, 1, 1);
  bad.labels[3] = 7;
  EXPECT_THROW(model->fit(bad, {}, s), InputError);
  LabelledImages rgb = planted_squares(10, kSize, 3, 1);
  EXPECT_THROW(model->fit(rgb, {}, s), InputError);
  VisionSettings other = s;
  other.backbone = "resnet18";
  EXPECT_THROW(model->fit(planted_squares(10, kSize, 1, 1), {}, other), InputError);
  EXPECT_THROW(model->set_trainable(1.5), InputError);
}

TEST(VisionTraining, SameSeedSameProbabilitiesOtherSeedOthers) {
  const LabelledImages train = planted_squares(120, kSize, 1, 6);
  const LabelledImages val = planted_squares(30, kSize, 1, 7);
  VisionSettings s = quick_settings();
  s.epochs = 2;
  s.dropout = 0.5;
  int augment_calls = 0;
  FitHooks hooks;
  hooks.augment = [&](ImageBatch& batch, std::mt19937_64& rng) {
    ++augment_calls;
    for (int i = 0; i < batch.count; ++i)
      if (rng() % 2) std::reverse(batch.image(i), batch.image(i) + batch.image_bytes());
  };
  auto run = [&](uint64_t seed) {
    VisionSettings t = s;
    t.seed = seed;
    auto model = create_image_model(t, 1);
    model->fit(train, val, t, hooks);
    return model->predict_proba(val.images);
  };
  const Probabilities a = run(11);
  EXPECT_EQ(augment_calls, 2 * 4);  // 120 images in batches of 32: 4 per epoch
  EXPECT_EQ(a, run(11));
  EXPECT_NE(a, run(12));
}

TEST(VisionTraining, EarlyStoppingRestoresTheBestEpochsCheckpoint) {
  const LabelledImages train = planted_squares(150, kSize, 1, 8);
  LabelledImages val = planted_squares(60, kSize, 1, 9);
  std::mt19937_64 rng(3);
  for (auto& y : val.labels) y = static_cast<int>(rng() % kNumClasses);  // noise: QWK wanders
  VisionSettings s = quick_settings();
  s.epochs = 12;
  s.patience = 2;
  const std::string checkpoint = scratch_dir() + "/best.pt";
  FitHooks hooks;
  hooks.checkpoint_path = checkpoint;
  auto model = create_image_model(s, 1);
  const TrainingHistory h = model->fit(train, val, s, hooks);

  // The selection rule: highest QWK, ties to the lower validation loss, first such epoch.
  int expected = 1;
  for (const auto& r : h.epochs) {
    const auto& b = h.epochs[expected - 1];
    if (r.val_qwk > b.val_qwk + 1e-12 ||
        (std::abs(r.val_qwk - b.val_qwk) <= 1e-12 && r.val_loss < b.val_loss))
      expected = r.epoch;
  }
  EXPECT_EQ(h.best_epoch, expected);
  EXPECT_TRUE(h.stopped_early);
  EXPECT_EQ(static_cast<int>(h.epochs.size()), h.best_epoch + s.patience);
  EXPECT_LT(h.best_epoch, static_cast<int>(h.epochs.size()));

  auto reloaded = create_image_model(s, 1);
  reloaded->load(checkpoint);
  EXPECT_EQ(model->predict_proba(val.images), reloaded->predict_proba(val.images));
}

TEST(VisionTraining, FocalLossTrainsAndSaveLoadRoundTrips) {
  const LabelledImages train = planted_squares(120, kSize, 3, 10);
  const LabelledImages val = planted_squares(30, kSize, 3, 11);
  VisionSettings s = quick_settings();
  s.epochs = 2;
  s.loss = VisionLoss::kFocal;
  auto model = create_image_model(s, 3);
  model->fit(train, val, s);
  const std::string path = scratch_dir() + "/model.pt";
  model->save(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  auto copy = create_image_model(s, 3);
  EXPECT_NE(copy->predict_proba(val.images), model->predict_proba(val.images));
  copy->load(path);
  EXPECT_EQ(copy->predict_proba(val.images), model->predict_proba(val.images));
  EXPECT_EQ(copy->embed(val.images), model->embed(val.images));
  // One pass through the backbone gives exactly what the two calls give.
  std::vector<float> embeddings;
  Probabilities probs;
  model->embed_and_predict(val.images, &embeddings, &probs);
  EXPECT_EQ(embeddings, model->embed(val.images));
  EXPECT_EQ(probs, model->predict_proba(val.images));

  VisionSettings other = s;
  other.backbone = "resnet18";
  EXPECT_THROW(create_image_model(other, 3)->load(path), InputError);
  EXPECT_THROW(create_image_model(s, 1)->load(path), InputError);
  const std::string junk = scratch_dir() + "/junk.pt";
  std::ofstream(junk) << "not a checkpoint";
  EXPECT_THROW(copy->load(junk), InputError);
  EXPECT_THROW(copy->load(scratch_dir() + "/missing.pt"), InputError);
}

TEST(VisionTraining, SetTrainableFreezesTheBackboneAndItsStatistics) {
  VisionSettings s = quick_settings();
  s.epochs = 1;
  auto model = create_image_model(s, 1);
  const long all = total_params(*model, false);
  const long head = model->parameter_breakdown().back().total;
  model->set_trainable(0);
  EXPECT_EQ(total_params(*model, true), head);
  model->set_trainable(0.5);
  const long half = total_params(*model, true);
  EXPECT_GT(half, head);
  EXPECT_LT(half, all);
  // Only top layers train: the first backbone layer is frozen, the last one trains.
  const auto layers = model->parameter_breakdown();
  EXPECT_EQ(layers.front().trainable, 0);
  EXPECT_EQ(layers[layers.size() - 2].trainable, layers[layers.size() - 2].total);

  // Stage 1 with a frozen backbone: the embedding (backbone and its batch norms) does not move.
  model->set_trainable(0);
  const LabelledImages train = planted_squares(90, kSize, 1, 12);
  model->fit(train, {}, s);  // fits the input normalisation, then trains only the head
  const std::vector<float> before = model->embed(train.images);
  model->fit(train, {}, s);
  EXPECT_EQ(model->embed(train.images), before);
  model->set_trainable(1);
  EXPECT_EQ(total_params(*model, true), all);
  model->fit(train, {}, s);
  EXPECT_NE(model->embed(train.images), before);
}

// ---- TorchScript -------------------------------------------------------------------------------

// Exports two tiny modules with Debian's python3-torch (the same torch build as libtorch) into
// `dir`: plain.pt (forward returns a 6-d embedding), features.pt (also a `features` method
// returning a [N, 8, H, W] map) and means.pt (no parameters; the input's per-channel means). False
// if /usr/bin/python3 cannot import torch.
bool export_torchscript(const std::string& dir) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) return false;
  const std::string script = R"PY(
import sys, torch
class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.proj = torch.nn.Linear(8, 6)
    def forward(self, x):
        return self.proj(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))
class WithFeatures(Plain):
    @torch.jit.export
    def features(self, x):
        return torch.relu(self.bn(self.conv(x)))
torch.manual_seed(0)
torch.jit.script(Plain()).save(sys.argv[1] + "/plain.pt")
torch.jit.script(WithFeatures()).save(sys.argv[1] + "/features.pt")
class ChannelMeans(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))
torch.jit.script(ChannelMeans()).save(sys.argv[1] + "/means.pt")
class RgbMeans(torch.nn.Module):  # an ImageNet-style model: 3 channels or nothing
    def forward(self, x):
        assert x.size(1) == 3, "needs 3 channels"
        return x.mean(dim=(2, 3))
torch.jit.script(RgbMeans()).save(sys.argv[1] + "/rgb_means.pt")
class BnStats(torch.nn.Module):  # a trainable layer, and its batch norm's running mean shown
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1)
        self.bn = torch.nn.BatchNorm2d(1)
    def forward(self, x):
        y = self.bn(self.conv(x)).mean(dim=(2, 3))
        return torch.cat([y, self.bn.running_mean.view(1, 1).expand(x.size(0), 1)], 1)
torch.jit.script(BnStats()).save(sys.argv[1] + "/bn_stats.pt")
)PY";
  const std::string py = dir + "/export.py";
  std::ofstream(py) << script;
  return std::system(("/usr/bin/python3 " + py + " " + dir).c_str()) == 0;
}

TEST(VisionTorchScript, LoadsFineTunesAndRoundTrips) {
  const std::string dir = scratch_dir();
  if (!export_torchscript(dir)) WOUNDPHASE_MISSING_TOOL() << "/usr/bin/python3 cannot import torch";
  const std::string plain = dir + "/plain.pt";
  VisionSettings s = quick_settings();
  s.backbone = "torchscript:" + plain;
  s.epochs = 3;
  auto model = create_image_model(s, 1);
  EXPECT_EQ(model->embedding_dim(), 6);  // forward's output is the embedding
  const auto layers = model->parameter_breakdown();
  EXPECT_EQ(layers.front().name, "backbone.conv");
  EXPECT_EQ(total_params(*model, false), (8 * 9 + 8) + 16 + (8 * 6 + 6) + (6 * 3 + 3));

  const LabelledImages train = planted_squares(150, kSize, 1, 13);
  const LabelledImages val = planted_squares(60, kSize, 1, 14);
  const std::vector<float> before = model->embed(val.images);
  const TrainingHistory h = model->fit(train, val, s);
  EXPECT_NE(model->embed(val.images), before);  // the TorchScript weights were fine-tuned
  EXPECT_LT(h.epochs.back().train_loss, h.epochs.front().train_loss);

  const std::string path = dir + "/ts_model.pt";
  model->save(path);
  auto copy = create_image_model(s, 1);
  copy->load(path);
  EXPECT_EQ(copy->predict_proba(val.images), model->predict_proba(val.images));

  // Frozen, the module's weights and its batch norm's statistics stay put while the head trains.
  model->set_trainable(0);
  EXPECT_EQ(total_params(*model, true), 6 * 3 + 3);
  const std::vector<float> frozen = model->embed(val.images);
  VisionSettings one_epoch = s;
  one_epoch.epochs = 1;
  model->fit(train, {}, one_epoch);
  EXPECT_EQ(model->embed(val.images), frozen);

  VisionSettings f = s;
  f.backbone = "torchscript:" + dir + "/features.pt";
  EXPECT_EQ(create_image_model(f, 1)->embedding_dim(), 8);  // features(), pooled
  // The networks see ImageBatch's planar layout: channel 1 bright, channel 2 bright on the left.
  VisionSettings means = s;
  means.backbone = "torchscript:" + dir + "/means.pt";
  auto identity = create_image_model(means, 3);  // before any fit, inputs are pixels / 255
  ImageBatch planar(1, kSize, 3);
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) {
      planar.pixels[(1 * kSize + y) * kSize + x] = 255;
      planar.pixels[(2 * kSize + y) * kSize + x] = x < kSize / 2 ? 255 : 0;
    }
  const std::vector<float> channel_means = identity->embed(planar);
  ASSERT_EQ(channel_means.size(), 3u);
  EXPECT_FLOAT_EQ(channel_means[0], 0.0f);
  EXPECT_FLOAT_EQ(channel_means[1], 1.0f);
  EXPECT_FLOAT_EQ(channel_means[2], 0.5f);

  // A model that cannot take the images is an InputError naming the file.
  try {
    create_image_model(s, 3);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(plain), std::string::npos) << e.what();
  }
}

TEST(VisionTorchScript, MapsGoToAnRgbModelAsThreeCopiesNormalisedPerCopy) {
  const std::string dir = scratch_dir();
  if (!export_torchscript(dir)) WOUNDPHASE_MISSING_TOOL() << "/usr/bin/python3 cannot import torch";
  VisionSettings s = quick_settings();
  s.backbone = "torchscript:" + dir + "/rgb_means.pt";
  s.normalization = InputNormalization::kImageNet;
  auto model = create_image_model(s, 1);  // a 1-channel map; the model runs on 3 channels only
  EXPECT_EQ(model->embedding_dim(), 3);
  EXPECT_EQ(model->channels(), 1);
  ImageBatch white(2, kSize, 1);
  std::fill(white.pixels.begin(), white.pixels.end(), 255);
  const std::vector<float> e = model->embed(white);
  ASSERT_EQ(e.size(), 6u);
  // Each copy normalised with its own ImageNet mean and std, as torchvision's Grayscale(3) +
  // Normalize pipeline does.
  EXPECT_NEAR(e[0], (1 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(e[1], (1 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(e[2], (1 - 0.406) / 0.225, 1e-5);
  // Dataset normalisation: the copies share the map's statistics, and the model trains.
  VisionSettings d = s;
  d.normalization = InputNormalization::kDataset;
  auto fitted = create_image_model(d, 1);
  const LabelledImages train = planted_squares(60, kSize, 1, 15);
  fitted->fit(train, {}, d);
  const std::vector<float> f = fitted->embed(train.images);
  EXPECT_EQ(f[0], f[1]);
  EXPECT_EQ(f[1], f[2]);
  // An RGB image that does not fit is still refused, naming the file and the shape tried.
  VisionSettings plain = s;
  plain.backbone = "torchscript:" + dir + "/plain.pt";
  try {
    create_image_model(plain, 3);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[N, 3, "), std::string::npos) << e.what();
  }
}

TEST(VisionTorchScript, ASearchProbesEveryModalityBeforeTraining) {
  const std::string dir = scratch_dir();
  if (!export_torchscript(dir)) WOUNDPHASE_MISSING_TOOL() << "/usr/bin/python3 cannot import torch";
  const auto synth =
      testing::run_cli("synth --out " + dir + "/data --patients 16 --seed 4 --image-scale 0.05");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const std::string fast = " --cv-folds 2 --image-size 32 --epochs 1 --trees 10 -v 1 --out ";
  // plain.pt takes 1 channel: the depth_rgb branch (3 channels) cannot use it. The search says so
  // before decoding an image or training thermal_map's branch first.
  const std::string plain = dir + "/plain.pt";
  const auto bad = testing::run_cli("search --data " + dir + "/data --modalities " +
                                    "thermal_map,depth_rgb --backbone torchscript:" + plain + fast +
                                    dir + "/bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("depth_rgb images (3 channels, 32x32 px)"), std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find(plain), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("decoded"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir + "/bad/folds.csv"));
  // An RGB-only model with ImageNet normalisation takes the thermal maps as 3 copies.
  const auto good = testing::run_cli("search --data " + dir +
                                     "/data --modalities thermal_map --normalization imagenet "
                                     "--backbone torchscript:" +
                                     dir + "/rgb_means.pt" + fast + dir + "/good");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_TRUE(fs::exists(dir + "/good/results.csv"));
}

// scripts/export_backbone.py: the weights a user supplies are the weights woundphase runs.
TEST(VisionTorchScript, ExportedTorchvisionWeightsGiveTorchvisionsEmbedding) {
  const std::string dir = scratch_dir();
  if (std::system("/usr/bin/python3 -c 'import torchvision' >/dev/null 2>&1") != 0)
    WOUNDPHASE_MISSING_TOOL() << "/usr/bin/python3 cannot import torchvision";
  const std::string exporter = testing::source_dir() + "/scripts/export_backbone.py";
  // A seeded resnet18's state_dict, and its embedding of a grey image (pixels 128 -> 128/255).
  const std::string make = R"PY(
import sys, torch, torchvision
torch.manual_seed(5)
m = torchvision.models.resnet18()
torch.save(m.state_dict(), sys.argv[1] + "/weights.pt")
m.fc = torch.nn.Identity()
m.eval()
with torch.no_grad():
    e = m(torch.full((1, 3, 32, 32), 128 / 255))
open(sys.argv[1] + "/expected.txt", "w").write(" ".join(f"{v:.9g}" for v in e[0].tolist()))
)PY";
  std::ofstream(dir + "/make.py") << make;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir + "/make.py " + dir).c_str()), 0);
  const auto refused =
      testing::run_shell("/usr/bin/python3 " + exporter + " resnet18 " + dir + "/none.pt");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--random"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(dir + "/none.pt"));
  const auto wrong = testing::run_shell("/usr/bin/python3 " + exporter + " densenet121 " + dir +
                                        "/wrong.pt --weights " + dir + "/weights.pt");
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("does not fit densenet121"), std::string::npos) << wrong.output;
  const auto ok = testing::run_shell("/usr/bin/python3 " + exporter + " resnet18 " + dir +
                                     "/r18.pt --weights " + dir + "/weights.pt");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;

  VisionSettings s = quick_settings();
  s.backbone = "torchscript:" + dir + "/r18.pt";
  auto model = create_image_model(s, 3);
  ASSERT_EQ(model->embedding_dim(), 512);
  ImageBatch grey(1, kSize, 3);
  std::fill(grey.pixels.begin(), grey.pixels.end(), 128);
  const std::vector<float> got = model->embed(grey);
  std::ifstream in(dir + "/expected.txt");
  std::vector<double> expected;
  for (double v; in >> v;) expected.push_back(v);
  ASSERT_EQ(expected.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-4) << i;
  // Its features() is the last feature map, so predict --explain's Grad-CAM works on it.
  EXPECT_EQ(model->grad_cam(grey, {0}).size(), static_cast<size_t>(kSize * kSize));
}

TEST(VisionFineTuning, FreezeBnKeepsRunningStatisticsAndUnfreezeTrainsTheTopShare) {
  const std::string dir = scratch_dir();
  if (!export_torchscript(dir)) WOUNDPHASE_MISSING_TOOL() << "/usr/bin/python3 cannot import torch";
  VisionSettings s = quick_settings();
  s.backbone = "torchscript:" + dir + "/bn_stats.pt";
  s.epochs = 2;
  const LabelledImages train = planted_squares(60, kSize, 1, 16);
  auto running_mean_after_fit = [&](bool freeze_bn) {
    VisionSettings f = s;
    f.freeze_bn = freeze_bn;
    auto model = create_image_model(f, 1);
    const std::vector<float> before = model->embed(train.images);
    model->fit(train, {}, f);
    const std::vector<float> after = model->embed(train.images);
    EXPECT_NE(after[0], before[0]);  // the convolution trained either way
    return after[1];                 // column 1: the batch norm's running mean
  };
  EXPECT_EQ(running_mean_after_fit(true), 0.0f);
  EXPECT_NE(running_mean_after_fit(false), 0.0f);

  // --image-unfreeze: the top share of the backbone's layers (here conv, bn: the top half is bn)
  // plus the classifier train from the start.
  VisionSettings u = s;
  u.unfreeze = 0.5;
  auto half = create_image_model(u, 1);
  EXPECT_EQ(total_params(*half, true), 2 + (2 * 3 + 3));
  u.unfreeze = 0;
  EXPECT_EQ(total_params(*create_image_model(u, 1), true), 2 * 3 + 3);
}

TEST(VisionProjection, AutoIsThePredecessorsHeadsAndTheEmbeddingItsOutput) {
  const std::string dir = scratch_dir();
  VisionSettings s = quick_settings();
  s.projection = "auto";
  auto rgb = create_image_model(s, 3);
  EXPECT_EQ(rgb->embedding_dim(), 32);  // simple's 128 -> 128 -> 32
  auto map = create_image_model(s, 1);
  EXPECT_EQ(map->embedding_dim(), 128);  // 128 -> 128
  VisionSettings plain = quick_settings();
  const long base = total_params(*create_image_model(plain, 3), false) - (128 * 3 + 3);
  // Per layer: linear (in * w + w) and batch norm (2w); the classifier on the last width.
  EXPECT_EQ(total_params(*rgb, false),
            base + (128 * 128 + 128) + 2 * 128 + (128 * 32 + 32) + 2 * 32 + (32 * 3 + 3));
  s.projection = "16";
  auto model = create_image_model(s, 1);
  ASSERT_EQ(model->embedding_dim(), 16);
  const LabelledImages train = planted_squares(150, kSize, 1, 17);
  const LabelledImages val = planted_squares(60, kSize, 1, 18);
  const TrainingHistory h = model->fit(train, val, s);
  EXPECT_LT(h.epochs.back().train_loss, h.epochs.front().train_loss);
  EXPECT_EQ(model->embed(val.images).size(), 60u * 16);
  // The projection's weights and batch-norm statistics travel with checkpoints and clones.
  model->save(dir + "/projected.pt");
  auto copy = create_image_model(s, 1);
  copy->load(dir + "/projected.pt");
  EXPECT_EQ(copy->predict_proba(val.images), model->predict_proba(val.images));
  EXPECT_EQ(model->clone()->embed(val.images), model->embed(val.images));
  for (const char* bad : {"0", "12,x", "", "5000"}) {
    s.projection = bad;
    try {
      s.validate();
      ADD_FAILURE() << "accepted --projection '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--projection"), std::string::npos) << e.what();
    }
  }
}

// ---- Losses and scores -------------------------------------------------------------------------

TEST(VisionLosses, FocalLossMatchesAHandComputedCase) {
  // logits (2, 0, 0), label 0: p = e^2 / (e^2 + 2) = 0.786986..., CE = -ln p = 0.239545...
  // focal, gamma 2: (1 - p)^2 * CE = 0.045375... * 0.239545 = 0.0108693...
  const std::vector<float> one = {2, 0, 0};
  EXPECT_NEAR(vision::focal_loss_value(one, 3, {0}, {}, 2.0), 0.0108693, 1e-6);
  EXPECT_NEAR(vision::focal_loss_value(one, 3, {0}, {}, 0.0), 0.2395448, 1e-6);
  // Weighted mean of two rows: row 2 is label 1 with p = 1/(e^2 + 2) = 0.106507.
  const std::vector<float> two = {2, 0, 0, 2, 0, 0};
  const double p1 = 1.0 / (std::exp(2.0) + 2.0);
  const double row2 = std::pow(1 - p1, 2.0) * -std::log(p1);
  EXPECT_NEAR(vision::focal_loss_value(two, 3, {0, 1}, {1.0f, 3.0f}, 2.0),
              (0.0108693 + 3 * row2) / 4, 1e-6);
}

TEST(VisionLosses, LabelSmoothingMatchesTorchsDefinition) {
  // logits (2, 0, 0), label 0: log p = (-0.2395448, -2.2395448, -2.2395448). With e = 0.1:
  // 0.9 * 0.2395448 + 0.1 * mean(0.2395448, 2.2395448, 2.2395448) = 0.3728781 (what
  // torch.nn.CrossEntropyLoss(label_smoothing=0.1) gives).
  const std::vector<float> one = {2, 0, 0};
  EXPECT_NEAR(vision::focal_loss_value(one, 3, {0}, {}, 0.0, 0.1), 0.3728781, 1e-6);
  EXPECT_NEAR(vision::focal_loss_value(one, 3, {0}, {}, 0.0, 0.0), 0.2395448, 1e-6);
  // Focal's factor multiplies the smoothed cross-entropy: (1 - p)^2 with p = 0.786986.
  EXPECT_NEAR(vision::focal_loss_value(one, 3, {0}, {}, 2.0, 0.1),
              std::pow(1 - 0.786986, 2.0) * 0.3728781, 1e-5);
}

// The recipe's knobs change training, reproducibly; clipping to a tiny norm stops it.
TEST(VisionRecipe, MixupSmoothingPlateauAndClippingTrainReproducibly) {
  const LabelledImages train = planted_squares(120, kSize, 1, 19);
  const LabelledImages val = planted_squares(60, kSize, 1, 20);
  VisionSettings base = quick_settings();
  base.epochs = 4;
  auto probabilities = [&](const VisionSettings& s) {
    auto model = create_image_model(s, 1);
    model->fit(train, val, s);
    return model->predict_proba(val.images);
  };
  const Probabilities plain = probabilities(base);
  VisionSettings recipe = base;
  recipe.mixup = 0.4;
  recipe.label_smoothing = 0.1;
  recipe.grad_clip = 1.0;
  recipe.lr_plateau_factor = 0.5;
  recipe.lr_plateau_patience = 1;
  const Probabilities first = probabilities(recipe);
  EXPECT_EQ(probabilities(recipe), first);
  EXPECT_NE(first, plain);
  for (auto set : {+[](VisionSettings& s) { s.mixup = 0.4; },
                   +[](VisionSettings& s) { s.label_smoothing = 0.1; }}) {
    VisionSettings one = base;
    set(one);
    EXPECT_NE(probabilities(one), plain);
  }
  // Only the classifier trains (a frozen backbone keeps its batch norms): clipped to 1e-12 with
  // Adam's epsilon 1e-8 its steps vanish, so the probabilities barely move.
  VisionSettings head_only = base;
  head_only.unfreeze = 0;
  head_only.weight_decay = 0;  // coupled decay is added after clipping and would move the head
  head_only.normalization = InputNormalization::kImageNet;  // no fitted input scaling either
  auto moved = [&](double clip) {
    VisionSettings s = head_only;
    s.grad_clip = clip;
    auto model = create_image_model(s, 1);
    const Probabilities before = model->predict_proba(val.images);
    model->fit(train, {}, s);
    const Probabilities after = model->predict_proba(val.images);
    double most = 0;
    for (size_t i = 0; i < after.size(); ++i) most = std::max(most, std::abs(after[i] - before[i]));
    return most;
  };
  EXPECT_GT(moved(0), 1e-3);
  EXPECT_LT(moved(1e-12), 1e-5);
}

TEST(VisionRecipe, PlateauScheduleCutsTheRateAfterPatienceEpochsWithoutALowerLoss) {
  // Losses 1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.85, 0.85 with patience 2, factor 0.5: epochs 3-4 are
  // a plateau (rate halves after epoch 4), epoch 5 improves, epochs 6-7 are another (halves after
  // 7), epoch 8 starts counting again.
  const auto rates =
      vision::plateau_learning_rates({1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.85, 0.85}, 1e-3, 0.5, 2);
  const std::vector<double> expected = {1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4};
  ASSERT_EQ(rates.size(), expected.size());
  for (size_t i = 0; i < rates.size(); ++i) EXPECT_DOUBLE_EQ(rates[i], expected[i]) << i;
  EXPECT_EQ(vision::plateau_learning_rates({1.0, 1.0, 1.0}, 1e-3, 0, 1),
            (std::vector<double>{1e-3, 1e-3, 1e-3}));  // factor 0: a constant rate
}

// ---- The program without libtorch --------------------------------------------------------------

TEST(VisionLinkage, TheProgramDoesNotLinkLibtorch) {
  const std::string ldd = capture("ldd " + testing::binary());
  ASSERT_NE(ldd.find("libc.so"), std::string::npos) << ldd;
  EXPECT_EQ(ldd.find("libtorch"), std::string::npos) << ldd;
  EXPECT_EQ(ldd.find("libc10"), std::string::npos) << ldd;
  EXPECT_EQ(ldd.find("woundphase_vision"), std::string::npos) << ldd;

  // Nor does a metadata search load it at run time (the loader is only called for images).
  const std::string dir = scratch_dir();
  const auto synth = testing::run_cli("synth --out " + dir + "/data --patients 30 --seed 3");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const std::string loaded =
      capture("LD_DEBUG=files " + testing::binary() + " search --data " + dir + "/data --out " +
              dir + "/search --cv-folds 2 --trees 20 --verbosity 0");
  EXPECT_NE(loaded.find("libxgboost"), std::string::npos) << loaded.substr(0, 2000);
  EXPECT_EQ(loaded.find("libtorch"), std::string::npos);
  EXPECT_EQ(loaded.find("woundphase_vision"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/search/results.csv"));
}

TEST(VisionLinkage, TheLoaderFindsTheLibraryNextToTheExecutable) {
  const fs::path expected = fs::path(testing::binary()).parent_path() / kVisionLibraryName;
  if (std::getenv(kVisionLibraryEnv) == nullptr) {
    EXPECT_EQ(fs::weakly_canonical(vision_library_path()), fs::weakly_canonical(expected));
  }
  std::string why;
  EXPECT_TRUE(vision_available(&why)) << why;
  EXPECT_TRUE(why.empty());
  auto model = create_image_model(quick_settings(), 1);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->num_classes(), kNumClasses);
  EXPECT_EQ(model->channels(), 1);
  EXPECT_EQ(model->predict_proba(random_images(3, 1, 2)).size(), 9u);
}

}  // namespace
}  // namespace woundphase
