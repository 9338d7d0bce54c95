// Fusion heads through the torch-free interface (fusion.h): each head on synthetic features where
// the answer is known, the two-stage trainer on tiny images (simple backbone, 32x32), branch
// copies, revert, checkpoints, determinism, and the errors for configurations with nothing to
// train.
#include <gtest/gtest.h>

#include <algorithm>  // for max_element
#include <array>
#include <cmath>
#include <filesystem>
#include <functional>  // for function
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_paths.h"
#include "vision/test_device.h"
#include "woundphase/fusion.h"
#include "woundphase/metrics.h"  // for quadratic_weighted_kappa
#include "woundphase/vision.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;
using testing::scratch_dir;

constexpr int kSize = 32;
constexpr int kSquare = 8;
constexpr uint8_t kNoise = 60;
constexpr uint8_t kBright = 200;
constexpr int kSimpleDim = 128;  // the simple backbone's embedding

using Row = std::array<double, kNumClasses>;

// ---- Synthetic features
// --------------------------------------------------------------------------

// Normalised `row` plus uniform noise of amplitude `noise`.
Row noisy(Row row, double noise, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, noise);
  double sum = 0;
  for (double& p : row) sum += (p += u(rng));
  for (double& p : row) p /= sum;
  return row;
}

// Features of `n` samples (label i % 3) for `n_sources` probability-only sources; `row_of(s, y,
// rng)` gives source s's probabilities for a sample of class y.
template <typename RowFn>
FusionFeatures make_features(int n, int n_sources, uint64_t seed, RowFn row_of) {
  std::mt19937_64 rng(seed);
  FusionFeatures f;
  f.count = n;
  f.probs.resize(n_sources);
  f.embeddings.resize(n_sources);
  for (int i = 0; i < n; ++i) {
    const int y = i % kNumClasses;
    f.labels.push_back(y);
    for (int s = 0; s < n_sources; ++s) {
      const Row row = row_of(s, y, rng);
      f.probs[s].insert(f.probs[s].end(), row.begin(), row.end());
    }
  }
  return f;
}

Row one_hot(int c, double on, double off) {
  Row r;
  r.fill(off);
  r[c] = on;
  return r;
}

// Source 0 says whether y == 0, source 1 whether y == 2, its output permuted (it says class 2
// exactly when y != 2). Each alone reaches 2/3 at most; together they determine y, but only a
// head that learns to read source 1 inverted gets there.
FusionFeatures two_part_problem(int n, uint64_t seed) {
  return make_features(n, 2, seed, [](int s, int y, std::mt19937_64& rng) {
    if (s == 0) return noisy(y == 0 ? Row{0.8, 0.1, 0.1} : Row{0.1, 0.45, 0.45}, 0.3, rng);
    return noisy(y == 2 ? Row{0.45, 0.45, 0.1} : Row{0.1, 0.1, 0.8}, 0.3, rng);
  });
}

// Per sample one source is reliable (0.7 on the label), the other confidently wrong (0.9 on
// another class). An equal mixture follows the confident one; a gate that recognises confidence
// by the shape of the log-probabilities picks the reliable one.
FusionFeatures reliability_problem(int n, uint64_t seed) {
  std::mt19937_64 pick(seed + 1);
  std::vector<int> reliable(n);
  for (int& r : reliable) r = static_cast<int>(pick() % 2);
  int i = 0;
  return make_features(n, 2, seed, [&](int s, int y, std::mt19937_64& rng) {
    const int r = reliable[i / 2];
    ++i;
    if (s == r) return noisy(one_hot(y, 0.7, 0.15), 0.05, rng);
    const int wrong = (y + 1 + static_cast<int>(rng() % 2)) % kNumClasses;
    return noisy(one_hot(wrong, 0.9, 0.05), 0.05, rng);
  });
}

int argmax(const double* p) { return static_cast<int>(std::max_element(p, p + kNumClasses) - p); }

double accuracy(const Probabilities& p, const std::vector<int>& labels) {
  int correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += argmax(&p[i * kNumClasses]) == labels[i];
  return static_cast<double>(correct) / labels.size();
}

double source_accuracy(const FusionFeatures& f, int s) { return accuracy(f.probs[s], f.labels); }

double qwk(const Probabilities& p, const std::vector<int>& labels) {
  std::vector<int> pred;
  for (size_t i = 0; i < labels.size(); ++i) pred.push_back(argmax(&p[i * kNumClasses]));
  return quadratic_weighted_kappa(labels, pred, kNumClasses);
}

FusionSettings stage1_settings(FusionKind kind) {
  FusionSettings s;
  s.kind = kind;
  s.threads = 1;  // loaded shared cores: one thread is faster and deterministic
  s.seed = 5;
  return s;
}

std::vector<FusionSource> probability_sources(int n) {
  std::vector<FusionSource> sources;
  for (int s = 0; s < n; ++s) sources.push_back({"source" + std::to_string(s), 0});
  return sources;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// ---- Images ------------------------------------------------------------------------------------

VisionSettings branch_settings() { return testing::quick_vision_settings(kSize, 2, 16, 3); }

// `n` images, image i of class labels[i]: a bright square in the left/centre/right third.
ImageBatch planted_images(const std::vector<int>& labels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ImageBatch b(static_cast<int>(labels.size()), kSize, 1);
  const int step = (kSize - kSquare - 4) / 2;
  for (int i = 0; i < b.count; ++i) {
    uint8_t* img = b.image(i);
    for (size_t p = 0; p < b.image_bytes(); ++p) img[p] = rng() % (kNoise + 1);
    const int x0 = 2 + labels[i] * step;
    const int y0 = 2 + static_cast<int>(rng() % (kSize - kSquare - 4));
    for (int y = y0; y < y0 + kSquare; ++y)
      for (int x = x0; x < x0 + kSquare; ++x) img[y * kSize + x] = kBright + rng() % 50;
  }
  return b;
}

// `n` samples (label i % 3): metadata probabilities (weakly informative) and, per image source,
// sample i's images (1 or 2 of them, in an interleaved order).
FusionImages image_samples(int n, int n_image_sources, uint64_t seed) {
  std::mt19937_64 rng(seed);
  FusionImages d;
  d.fixed.count = n;
  d.fixed.probs.resize(1 + n_image_sources);
  d.fixed.embeddings.resize(1 + n_image_sources);
  for (int i = 0; i < n; ++i) {
    d.fixed.labels.push_back(i % kNumClasses);
    const Row row = noisy(one_hot(i % kNumClasses, 0.5, 0.25), 0.5, rng);
    d.fixed.probs[0].insert(d.fixed.probs[0].end(), row.begin(), row.end());
  }
  d.images.resize(1 + n_image_sources);
  for (int s = 0; s < n_image_sources; ++s) {
    LabelledImages& li = d.images[1 + s];
    for (int i = 0; i < n; ++i) li.groups.push_back(i);
    for (int i = 0; i < n; i += 2) li.groups.push_back(i);  // even samples have a second image
    for (int g : li.groups) li.labels.push_back(g % kNumClasses);
    li.images = planted_images(li.labels, seed * 10 + s);
  }
  return d;
}

std::vector<FusionSource> image_sources(int n_image_sources) {
  std::vector<FusionSource> sources = {{"metadata", 0}};
  const char* names[] = {"thermal_map", "depth_map"};
  for (int s = 0; s < n_image_sources; ++s) sources.push_back({names[s], kSimpleDim});
  return sources;
}

// Branches trained for a couple of epochs on their own images (as the pipeline's pre-training).
std::vector<std::unique_ptr<ImageModel>> trained_branches(const FusionImages& d) {
  std::vector<std::unique_ptr<ImageModel>> out;
  for (size_t s = 1; s < d.images.size(); ++s) {
    out.push_back(create_image_model(branch_settings(), 1));
    out.back()->fit(d.images[s], {}, branch_settings());
  }
  return out;
}

std::vector<const ImageModel*> with_metadata(const std::vector<std::unique_ptr<ImageModel>>& b) {
  std::vector<const ImageModel*> out = {nullptr};
  for (const auto& m : b) out.push_back(m.get());
  return out;
}

FusionSettings stage2_settings(FusionKind kind) {
  FusionSettings s = stage1_settings(kind);
  s.stage1_epochs = 5;
  s.stage2_epochs = 2;
  s.stage2_learning_rate = 1e-3;
  s.stage2_unfreeze = 0.5;
  s.batch_size = 16;
  return s;
}

// ---- Settings ----------------------------------------------------------------------------------

TEST(FusionSettings, NamesParseAndErrorsNameTheOption) {
  EXPECT_NO_THROW(FusionSettings{}.validate());
  for (const char* name : {"fixed", "learned_weights", "prob_concat", "feature_concat", "gated"})
    EXPECT_EQ(std::string(to_string(parse_fusion(name))), name);
  EXPECT_NE(error_of([] { parse_fusion("attention"); }).find("--fusion"), std::string::npos);
  auto message = [](auto mutate) {
    FusionSettings s;
    mutate(s);
    return error_of([&] { s.validate(); });
  };
  EXPECT_NE(message([](FusionSettings& s) { s.rf_weight = 1.5; }).find("--rf-weight"),
            std::string::npos);
  EXPECT_NE(message([](FusionSettings& s) { s.stage1_epochs = 0; }).find("--stage1-epochs"),
            std::string::npos);
  EXPECT_NE(message([](FusionSettings& s) {
              s.stage2_learning_rate = 1e-6;
            }).find("--stage2-learning-rate"),
            std::string::npos);
  EXPECT_NE(message([](FusionSettings& s) { s.stage2_unfreeze = -0.1; }).find("--stage2-unfreeze"),
            std::string::npos);
  EXPECT_NE(message([](FusionSettings& s) { s.batch_size = 1; }).find("--fusion-batch-size"),
            std::string::npos);
  EXPECT_NE(message([](FusionSettings& s) { s.dropout = 0.95; }).find("--fusion-dropout"),
            std::string::npos);
}

// ---- Stage 1 on synthetic features -------------------------------------------------------------

TEST(FusionStage1, FixedIsTheDocumentedAverageAndHasNothingToTrain) {
  // metadata + two image sources: metadata weighs rf_weight, the images share the rest.
  const FusionImages d = image_samples(30, 2, 1);
  const auto branches = trained_branches(d);
  FusionSettings s = stage1_settings(FusionKind::kFixed);
  s.rf_weight = 0.6;
  auto model = create_fusion_model(s, image_sources(2), with_metadata(branches));
  EXPECT_EQ(model->trainable_parameters(1), 0);
  EXPECT_GT(model->trainable_parameters(2), 0);  // the branches' top layers and classifiers
  const FusionFeatures f = model->features(d);
  const Probabilities before = model->predict(f);
  ASSERT_EQ(before.size(), 30u * kNumClasses);
  for (size_t j = 0; j < before.size(); ++j)
    EXPECT_NEAR(before[j], 0.6 * f.probs[0][j] + 0.2 * f.probs[1][j] + 0.2 * f.probs[2][j], 1e-12);
  const TrainingHistory h = model->fit_stage1(f, f);
  EXPECT_TRUE(h.epochs.empty());
  EXPECT_EQ(model->predict(f), before);
  EXPECT_EQ(model->predict_images(d), before);

  // Without metadata: the plain mean.
  auto plain = create_fusion_model(stage1_settings(FusionKind::kFixed), probability_sources(2),
                                   {nullptr, nullptr});
  const FusionFeatures g = two_part_problem(12, 2);
  const Probabilities p = plain->predict(g);
  for (size_t j = 0; j < p.size(); ++j)
    EXPECT_NEAR(p[j], (g.probs[0][j] + g.probs[1][j]) / 2, 1e-12);
}

TEST(FusionStage1, LearnedWeightsMoveTowardsTheInformativeSource) {
  // Source 0 is informative, source 1 noise.
  auto problem = [](int n, uint64_t seed) {
    return make_features(n, 2, seed, [](int s, int y, std::mt19937_64& rng) {
      if (s == 0) return noisy(one_hot(y, 0.6, 0.2), 0.3, rng);
      return noisy(Row{1, 1, 1}, 3.0, rng);
    });
  };
  const FusionFeatures train = problem(150, 1), val = problem(60, 2);
  auto model = create_fusion_model(stage1_settings(FusionKind::kLearnedWeights),
                                   probability_sources(2), {nullptr, nullptr});
  EXPECT_EQ(model->trainable_parameters(1), 2);
  // A probe sample whose sources are one-hot on different classes reads the weights off.
  FusionFeatures probe;
  probe.count = 1;
  probe.probs = {{1, 0, 0}, {0, 1, 0}};
  const Probabilities equal = model->predict(probe);
  EXPECT_NEAR(equal[0], 0.5, 1e-12);
  EXPECT_NEAR(equal[1], 0.5, 1e-12);
  std::vector<EpochReport> seen;
  const TrainingHistory h =
      model->fit_stage1(train, val, [&](const EpochReport& r) { seen.push_back(r); });
  ASSERT_FALSE(h.epochs.empty());
  EXPECT_EQ(seen.size(), h.epochs.size());
  EXPECT_EQ(h.epochs[0].train_images, 150);
  EXPECT_GT(h.epochs.back().val_qwk, 0.3);
  const Probabilities learned = model->predict(probe);
  EXPECT_GT(learned[0], 0.6) << "weight of the informative source";
  EXPECT_NEAR(learned[0] + learned[1], 1.0, 1e-9);
}

TEST(FusionStage1, ProbConcatLearnsACombinationNeitherSourceHasAlone) {
  const FusionFeatures train = two_part_problem(180, 1), val = two_part_problem(90, 2),
                       test = two_part_problem(90, 3);
  auto model = create_fusion_model(stage1_settings(FusionKind::kProbConcat), probability_sources(2),
                                   {nullptr, nullptr});
  EXPECT_EQ(model->trainable_parameters(1), 2 * kNumClasses * kNumClasses + kNumClasses);
  const double untrained = accuracy(model->predict(test), test.labels);
  const TrainingHistory h = model->fit_stage1(train, val);
  const double trained = accuracy(model->predict(test), test.labels);
  EXPECT_GT(trained, 0.9);
  EXPECT_GT(trained, source_accuracy(test, 0) + 0.2);
  EXPECT_GT(trained, source_accuracy(test, 1) + 0.2);
  EXPECT_GT(trained, untrained + 0.2);
  // The restored epoch is the best one: its validation QWK is what the model scores now.
  ASSERT_GE(h.best_epoch, 1);
  const EpochReport& best = h.epochs[h.best_epoch - 1];
  EXPECT_TRUE(best.improved);
  for (const auto& r : h.epochs) EXPECT_LE(r.val_qwk, best.val_qwk + 1e-12);
  EXPECT_NEAR(qwk(model->predict(val), val.labels), best.val_qwk, 1e-12);
  EXPECT_NEAR(accuracy(model->predict(val), val.labels), best.val_accuracy, 1e-12);
}

TEST(FusionStage1, GatedLearnsWhichSourceToTrustPerSample) {
  const FusionFeatures train = reliability_problem(240, 1), val = reliability_problem(90, 2),
                       test = reliability_problem(120, 3);
  auto model = create_fusion_model(stage1_settings(FusionKind::kGated), probability_sources(2),
                                   {nullptr, nullptr});
  EXPECT_EQ(model->trainable_parameters(1), 2 * kNumClasses * 2 + 2);
  const double untrained = accuracy(model->predict(test), test.labels);
  model->fit_stage1(train, val);
  const double trained = accuracy(model->predict(test), test.labels);
  EXPECT_LT(untrained, 0.2);  // the equal mixture follows the confidently wrong source
  EXPECT_GT(trained, 0.85);
  EXPECT_GT(trained, source_accuracy(test, 0) + 0.2);
  EXPECT_GT(trained, source_accuracy(test, 1) + 0.2);
  const Probabilities p = model->predict(test);
  for (int i = 0; i < test.count; ++i)
    EXPECT_NEAR(p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2], 1.0, 1e-9);
}

TEST(FusionStage1, FeatureConcatReadsTheStandardisedEmbeddings) {
  // The label is in the embeddings only (offset and scaled far from unit variance, so
  // standardisation matters): source A's dimension 0 says y == 0, source B's dimension 5 says
  // y == 2; probabilities are uninformative.
  const int kSignalDims = 16;
  const float kShift = 1.5f;
  auto problem = [&](int n, uint64_t seed) {
    FusionFeatures f = make_features(n, 3, seed, [](int, int, std::mt19937_64& rng) {
      return noisy(Row{1, 1, 1}, 3.0, rng);
    });
    std::mt19937_64 rng(seed + 100);
    std::normal_distribution<float> noise(0, 1);
    f.embeddings[1].resize(static_cast<size_t>(n) * kSimpleDim);
    f.embeddings[2].resize(static_cast<size_t>(n) * kSimpleDim);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < kSimpleDim; ++j) {
        f.embeddings[1][i * kSimpleDim + j] = 500 + 40 * noise(rng);
        f.embeddings[2][i * kSimpleDim + j] = -7 + 0.01f * noise(rng);
        if (j < kSignalDims)
          f.embeddings[1][i * kSimpleDim + j] += 40.0f * kShift * (f.labels[i] == 0);
        if (j >= kSignalDims && j < 2 * kSignalDims)
          f.embeddings[2][i * kSimpleDim + j] += 0.01f * kShift * (f.labels[i] == 2);
      }
    return f;
  };
  const FusionFeatures train = problem(200, 1), val = problem(90, 2), test = problem(90, 3);
  const FusionImages d = image_samples(6, 2, 1);
  const auto branches = trained_branches(d);
  FusionSettings s = stage1_settings(FusionKind::kFeatureConcat);
  auto model = create_fusion_model(s, image_sources(2), with_metadata(branches));
  EXPECT_EQ(model->trainable_parameters(1),
            (2 * kSimpleDim + 3 * kNumClasses) * kNumClasses + kNumClasses);
  const TrainingHistory fh = model->fit_stage1(train, val);
  const double trained = accuracy(model->predict(test), test.labels);
  EXPECT_GT(trained, 0.85);
  for (int src = 0; src < 3; ++src) EXPECT_GT(trained, source_accuracy(test, src) + 0.3);

  // Embeddings are required by this head.
  FusionFeatures missing = test;
  missing.embeddings[2].clear();
  EXPECT_NE(error_of([&] { model->predict(missing); }).find("depth_map"), std::string::npos);
}

TEST(FusionStage1, FocalLossSameSeedSameResultAndSaveLoad) {
  const FusionFeatures train = two_part_problem(120, 4), val = two_part_problem(60, 5);
  FusionSettings s = stage1_settings(FusionKind::kProbConcat);
  s.loss = VisionLoss::kFocal;
  s.stage1_epochs = 8;
  s.patience = 0;
  auto run = [&] {
    auto model = create_fusion_model(s, probability_sources(2), {nullptr, nullptr});
    const TrainingHistory h = model->fit_stage1(train, val);
    return std::make_pair(std::move(model), h);
  };
  auto [a, ha] = run();
  auto [b, hb] = run();
  ASSERT_EQ(ha.epochs.size(), 8u);
  ASSERT_EQ(ha.epochs.size(), hb.epochs.size());
  for (size_t e = 0; e < ha.epochs.size(); ++e) {
    EXPECT_EQ(ha.epochs[e].train_loss, hb.epochs[e].train_loss);
    EXPECT_EQ(ha.epochs[e].val_loss, hb.epochs[e].val_loss);
  }
  EXPECT_LT(ha.epochs.back().train_loss, ha.epochs.front().train_loss);
  EXPECT_EQ(a->predict(val), b->predict(val));

  const std::string path = scratch_dir() + "/head.pt";
  a->save(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  auto c = create_fusion_model(s, probability_sources(2), {nullptr, nullptr});
  EXPECT_NE(c->predict(val), a->predict(val));
  c->load(path);
  EXPECT_EQ(c->predict(val), a->predict(val));
  // Another kind or other sources cannot load it.
  auto gated = create_fusion_model(stage1_settings(FusionKind::kGated), probability_sources(2),
                                   {nullptr, nullptr});
  EXPECT_NE(error_of([&] { gated->load(path); }).find(path), std::string::npos);
  auto three = create_fusion_model(s, probability_sources(3), {nullptr, nullptr, nullptr});
  EXPECT_NE(error_of([&] { three->load(path); }).find(path), std::string::npos);
  EXPECT_NE(error_of([&] { c->load(scratch_dir() + "/missing.pt"); }).find("does not exist"),
            std::string::npos);
}

TEST(FusionStage1, BadInputIsAnInputError) {
  auto model = create_fusion_model(stage1_settings(FusionKind::kProbConcat), probability_sources(2),
                                   {nullptr, nullptr});
  FusionFeatures f = two_part_problem(12, 1);
  FusionFeatures short_probs = f;
  short_probs.probs[1].pop_back();
  EXPECT_NE(error_of([&] { model->predict(short_probs); }).find("source1"), std::string::npos);
  FusionFeatures bad_label = f;
  bad_label.labels[3] = 7;
  EXPECT_NE(error_of([&] { model->fit_stage1(bad_label, {}); }).find("label 7"), std::string::npos);
  FusionFeatures one_source = f;
  one_source.probs.pop_back();
  EXPECT_THROW(model->predict(one_source), InputError);
  // Sources and branches must agree.
  EXPECT_THROW(create_fusion_model(FusionSettings{}, probability_sources(2), {nullptr}),
               InputError);
  EXPECT_THROW(create_fusion_model(FusionSettings{}, {{"a", 0}, {"a", 0}}, {nullptr, nullptr}),
               InputError);
  EXPECT_THROW(create_fusion_model(FusionSettings{}, {{"thermal_map", 64}}, {nullptr}), InputError);
}

// ---- Branch copies -----------------------------------------------------------------------------

TEST(FusionBranches, CloneIsAnIndependentDeepCopy) {
  const FusionImages d = image_samples(24, 1, 7);
  auto original = create_image_model(branch_settings(), 1);
  original->fit(d.images[1], {}, branch_settings());
  original->set_trainable(0.5);
  const auto copy = original->clone();
  const ImageBatch& images = d.images[1].images;
  const Probabilities before = original->predict_proba(images);
  EXPECT_EQ(copy->predict_proba(images), before);
  EXPECT_EQ(copy->embed(images), original->embed(images));
  const auto a = original->parameter_breakdown(), b = copy->parameter_breakdown();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].trainable, b[i].trainable) << a[i].name;
  }
  copy->fit(d.images[1], {}, branch_settings());
  EXPECT_NE(copy->predict_proba(images), before);
  EXPECT_EQ(original->predict_proba(images), before);
}

// ---- Stage 2 on images -------------------------------------------------------------------------

TEST(FusionStage2, NothingToTrainIsAnErrorThatSaysWhatToChange) {
  FusionSettings s = stage1_settings(FusionKind::kFixed);
  s.stage2_epochs = 3;
  s.stage2_unfreeze = 0;
  const std::string settings_error = error_of([&] { s.validate(); });
  EXPECT_NE(settings_error.find("--fusion fixed with --stage2-unfreeze 0"), std::string::npos);
  EXPECT_NE(settings_error.find("0 parameters"), std::string::npos);
  EXPECT_NE(settings_error.find("--stage2-epochs 0"), std::string::npos);
  EXPECT_NE(error_of([&] {
              create_fusion_model(s, probability_sources(2), {nullptr, nullptr});
            }),
            "");

  // fixed on probability sources only: no backbone to unfreeze either.
  s.stage2_unfreeze = 0.5;
  auto model = create_fusion_model(s, probability_sources(2), {nullptr, nullptr});
  EXPECT_EQ(model->trainable_parameters(2), 0);
  FusionImages d;
  d.fixed = two_part_problem(12, 1);
  d.images.resize(2);
  const std::string fit_error = error_of([&] { model->fit_stage2(d, {}); });
  EXPECT_NE(fit_error.find("stage 2 would train 0 parameters"), std::string::npos) << fit_error;
  EXPECT_NE(fit_error.find("--stage2-epochs 0"), std::string::npos);

  // stage2_epochs 0: no stage 2, not an error.
  s.stage2_epochs = 0;
  auto none = create_fusion_model(s, probability_sources(2), {nullptr, nullptr});
  EXPECT_TRUE(none->fit_stage2(d, {}).epochs.empty());
}

TEST(FusionStage2, TrainsTheCopiesOnlyAndRevertRestoresStage1Exactly) {
  const FusionImages train = image_samples(48, 1, 1), val = image_samples(24, 1, 2);
  const auto branches = trained_branches(train);
  const Probabilities caller_before = branches[0]->predict_proba(val.images[1].images);
  FusionSettings s = stage2_settings(FusionKind::kProbConcat);
  auto model = create_fusion_model(s, image_sources(1), with_metadata(branches));

  // Stage 1 trains the head alone: every branch layer shows 0 trainable parameters.
  const auto stage1 = model->parameter_breakdown(1);
  ASSERT_FALSE(stage1.empty());
  EXPECT_EQ(stage1.front().name, "head.linear");
  long branch_layers = 0, stage2_trainable_layers = 0;
  for (const auto& layer : stage1) {
    if (layer.name.rfind("thermal_map.", 0) != 0) continue;
    ++branch_layers;
    EXPECT_EQ(layer.trainable, 0) << layer.name;
  }
  EXPECT_GT(branch_layers, 0);
  for (const auto& layer : model->parameter_breakdown(2))
    if (layer.name.rfind("thermal_map.", 0) == 0 && layer.trainable > 0) ++stage2_trainable_layers;
  EXPECT_GT(stage2_trainable_layers, 0);
  EXPECT_LT(stage2_trainable_layers, branch_layers);  // only the top half of the backbone
  EXPECT_EQ(model->parameter_breakdown(2).back().name, "thermal_map.head");
  EXPECT_GT(model->parameter_breakdown(2).back().trainable, 0);

  const FusionFeatures train_f = model->features(train), val_f = model->features(val);
  ASSERT_EQ(train_f.embeddings[1].size(), 48u * kSimpleDim);
  EXPECT_TRUE(train_f.embeddings[0].empty());
  EXPECT_EQ(train_f.probs[0], train.fixed.probs[0]);
  model->fit_stage1(train_f, val_f);
  const Probabilities after_stage1 = model->predict_images(val);
  EXPECT_EQ(after_stage1, model->predict(val_f));

  std::vector<EpochReport> seen;
  const TrainingHistory h =
      model->fit_stage2(train, val, [&](const EpochReport& r) { seen.push_back(r); });
  ASSERT_EQ(h.epochs.size(), 2u);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(h.epochs[0].train_images, 48);
  EXPECT_GT(h.epochs[0].train_loss, 0);
  EXPECT_GT(h.epochs[0].val_loss, 0);
  const FusionFeatures val_after = model->features(val);
  EXPECT_NE(val_after.embeddings[1], val_f.embeddings[1]) << "the copy's backbone trained";
  EXPECT_EQ(branches[0]->predict_proba(val.images[1].images), caller_before)
      << "the caller's branch is untouched";

  model->revert_stage2();
  EXPECT_EQ(model->predict_images(val), after_stage1);
  EXPECT_EQ(model->features(val).embeddings[1], val_f.embeddings[1]);
}

TEST(FusionStage2, SameSeedSameModelAndCheckpointsRoundTrip) {
  const FusionImages train = image_samples(36, 2, 3), val = image_samples(18, 2, 4);
  const auto branches = trained_branches(train);
  FusionSettings s = stage2_settings(FusionKind::kFeatureConcat);
  auto run = [&] {
    auto model = create_fusion_model(s, image_sources(2), with_metadata(branches));
    model->fit_stage1(model->features(train), model->features(val));
    const TrainingHistory h = model->fit_stage2(train, val);
    return std::make_pair(std::move(model), h);
  };
  auto [a, ha] = run();
  auto [b, hb] = run();
  ASSERT_EQ(ha.epochs.size(), hb.epochs.size());
  for (size_t e = 0; e < ha.epochs.size(); ++e)
    EXPECT_EQ(ha.epochs[e].train_loss, hb.epochs[e].train_loss);
  const Probabilities pa = a->predict_images(val);
  EXPECT_EQ(pa, b->predict_images(val));

  const std::string path = scratch_dir() + "/fusion.pt";
  a->save(path);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  auto c = create_fusion_model(s, image_sources(2), with_metadata(branches));
  EXPECT_NE(c->predict_images(val), pa);
  c->load(path);
  EXPECT_EQ(c->predict_images(val), pa);
  EXPECT_EQ(c->features(val).embeddings[2], a->features(val).embeddings[2]);
  // A model over other sources cannot load it.
  auto other = create_fusion_model(s, image_sources(1), {nullptr, branches[0].get()});
  EXPECT_NE(error_of([&] { other->load(path); }).find(path), std::string::npos);
}

TEST(FusionStage2, InjectionSeesTrainingBatchesOnlyWithTheirSamplesLabels) {
  const FusionImages train = image_samples(30, 1, 7), val = image_samples(15, 1, 8);
  const auto branches = trained_branches(train);
  const FusionSettings s = stage2_settings(FusionKind::kFeatureConcat);
  // Every image by its bytes: the training images with their sample's label, the validation ones.
  std::map<std::string, int> train_label;
  std::set<std::string> val_images;
  const LabelledImages& t = train.images[1];
  auto bytes_of = [](const ImageBatch& b, int i) {
    return std::string(reinterpret_cast<const char*>(b.image(i)), b.image_bytes());
  };
  for (int i = 0; i < t.images.count; ++i)
    train_label[bytes_of(t.images, i)] = train.fixed.labels[t.groups[i]];
  for (int i = 0; i < val.images[1].images.count; ++i)
    val_images.insert(bytes_of(val.images[1].images, i));

  auto run = [&](bool replace, long* seen, bool* wrong) {
    auto model = create_fusion_model(s, image_sources(1), with_metadata(branches));
    model->fit_stage1(model->features(train), model->features(val));
    std::vector<InjectFn> inject(2);  // metadata: none
    inject[1] = [&](ImageBatch& batch, const std::vector<int>& labels, std::mt19937_64&) {
      ASSERT_EQ(static_cast<int>(labels.size()), batch.count);
      for (int i = 0; i < batch.count; ++i) {
        const std::string b = bytes_of(batch, i);
        const auto it = train_label.find(b);
        if (it == train_label.end() || it->second != labels[i] || val_images.count(b) > 0)
          *wrong = true;
        ++*seen;
        if (replace) std::fill(batch.image(i), batch.image(i) + batch.image_bytes(), 0);
      }
    };
    const TrainingHistory h = model->fit_stage2(train, val, nullptr, inject);
    return std::make_pair(h, model->predict_images(val));
  };
  auto [plain, plain_val] = [&] {
    auto model = create_fusion_model(s, image_sources(1), with_metadata(branches));
    model->fit_stage1(model->features(train), model->features(val));
    const TrainingHistory h = model->fit_stage2(train, val);
    return std::make_pair(h, model->predict_images(val));
  }();
  long seen = 0;
  bool wrong = false;
  const auto [looked, looked_val] = run(false, &seen, &wrong);
  EXPECT_FALSE(wrong) << "a batch image that is not a training image of that label";
  // Every training image once per epoch (the last lone sample of an epoch aside: 30 samples in
  // batches of 16 leave none), nothing else.
  ASSERT_EQ(looked.epochs.size(), 2u);
  EXPECT_EQ(seen, 2L * t.images.count);
  // A hook that changes nothing changes nothing: the same losses and predictions.
  for (size_t e = 0; e < plain.epochs.size(); ++e)
    EXPECT_EQ(looked.epochs[e].train_loss, plain.epochs[e].train_loss);
  EXPECT_EQ(looked_val, plain_val);
  // One that blanks every image trains on something else.
  long seen2 = 0;
  const auto [blanked, blanked_val] = run(true, &seen2, &wrong);
  EXPECT_NE(blanked.epochs[0].train_loss, plain.epochs[0].train_loss);
  EXPECT_NE(blanked_val, plain_val);
}

TEST(FusionStage2, FrozenBranchesTrainTheHeadAloneAndImagesAreChecked) {
  const FusionImages train = image_samples(30, 1, 5), val = image_samples(15, 1, 6);
  const auto branches = trained_branches(train);
  FusionSettings s = stage2_settings(FusionKind::kGated);
  s.stage2_unfreeze = 0;
  auto model = create_fusion_model(s, image_sources(1), with_metadata(branches));
  for (const auto& layer : model->parameter_breakdown(2)) {
    if (layer.name.rfind("thermal_map.", 0) == 0) {
      EXPECT_EQ(layer.trainable, 0) << layer.name;
    }
  }
  const FusionFeatures before = model->features(val);
  const Probabilities head_before = model->predict(before);
  // Without validation samples every epoch runs and the last is kept.
  const TrainingHistory h = model->fit_stage2(train, {});
  ASSERT_EQ(h.epochs.size(), 2u);
  EXPECT_EQ(h.best_epoch, 2);
  EXPECT_EQ(model->features(val).embeddings[1], before.embeddings[1]);
  EXPECT_EQ(model->features(val).probs[1], before.probs[1]);
  EXPECT_NE(model->predict(before), head_before) << "the head trained";

  FusionImages orphan = val;
  orphan.images[1].groups.assign(orphan.images[1].groups.size(), 0);  // samples 1.. have none
  EXPECT_NE(error_of([&] { model->predict_images(orphan); }).find("has no 'thermal_map' image"),
            std::string::npos);
  FusionImages wrong_size = val;
  wrong_size.images[1].images = ImageBatch(wrong_size.images[1].images.count, 64, 1);
  EXPECT_THROW(model->features(wrong_size), InputError);
}

}  // namespace
}  // namespace woundphase
