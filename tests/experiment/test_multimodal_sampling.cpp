// Sampling with images: duplicates carry their images, SMOTE samples are complete (metadata
// interpolated, the parents' images blended with the same weight), parents stay inside the rows
// given; and the metadata branch's out-of-fold probabilities are not its in-sample ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>

#include "experiment/image_job.h"
#include "test_paths.h"
#include "woundphase/images.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr int kSize = 32;

struct Study {
  Dataset data;
  ImageIndex index;
  std::unique_ptr<ImageCache> cache;
};

Study& study() {
  static Study s = [] {
    const std::string dir = testing::shared_dir("multimodal_sampling");
    fs::remove_all(dir);
    SynthSettings synth;
    synth.patients = 24;
    synth.seed = 3;
    synth.image_scale = 0.05;
    write_synthetic_study(dir, synth);
    Study out;
    out.data = load_dataset(dir, Schema::dfu(), true);
    out.index = build_image_index(out.data, dir, ImageIndexSettings{});
    PreprocessSettings p;
    p.image_size = kSize;
    out.cache = std::make_unique<ImageCache>(dir, p);
    return out;
  }();
  return s;
}

TEST(MultimodalSampling, SmoteSamplesAreCompleteBlendsOfSameClassParentsFromTheGivenRows) {
  Study& s = study();
  // The "training rows": the first two thirds of the rows that have depth RGB images.
  std::vector<int> all(s.data.rows.size());
  std::iota(all.begin(), all.end(), 0);
  std::vector<int> with = rows_with_images(s.index, *s.cache, Modality::kDepthRgb, all);
  ASSERT_GT(with.size(), 20U);
  const std::vector<int> rows(with.begin(), with.begin() + with.size() * 2 / 3);
  std::vector<int> labels;
  for (int r : rows) labels.push_back(s.data.rows[r].label);

  SamplingSettings smote;
  smote.strategy = SamplingStrategy::kSmote;
  const auto refs = plan_samples(s.data, rows, labels, smote, 5);
  int synthetic = 0;
  std::array<int, kNumClasses> counts{};
  for (const SampleRef& ref : refs) {
    ++counts[ref.label];
    ASSERT_GE(ref.parent_a, 0);
    ASSERT_LT(ref.parent_a, static_cast<int>(rows.size()));  // never outside the given rows
    EXPECT_EQ(labels[ref.parent_a], ref.label);
    if (ref.parent_b < 0) continue;
    ++synthetic;
    ASSERT_LT(ref.parent_b, static_cast<int>(rows.size()));
    EXPECT_EQ(labels[ref.parent_b], ref.label);  // same-class neighbours
  }
  EXPECT_GT(synthetic, 0);
  // SMOTE raises every present class to the majority's count.
  const int top = *std::max_element(counts.begin(), counts.end());
  for (int c = 0; c < kNumClasses; ++c)
    if (counts[c] > 0) {
      EXPECT_EQ(counts[c], top);
    }

  const ImageModality m = ImageModality::kDepthRgb;
  const LabelledImages images = gather_samples(refs, rows, s.index, *s.cache, m, 3);
  // Every sample has images (none is ever missing one), in its own group, with its label.
  std::set<int> groups(images.groups.begin(), images.groups.end());
  EXPECT_EQ(groups.size(), refs.size());
  const size_t bytes = images.images.image_bytes();
  for (int i = 0; i < images.images.count; ++i) {
    const SampleRef& ref = refs[images.groups[i]];
    EXPECT_EQ(images.labels[i], ref.label);
  }
  // A synthetic sample's first image is its parents' first images blended with its weight.
  for (size_t k = 0; k < refs.size(); ++k) {
    const SampleRef& ref = refs[k];
    if (ref.parent_b < 0 || ref.mix < 0.2F || ref.mix > 0.8F) continue;
    const auto first = std::find(images.groups.begin(), images.groups.end(), static_cast<int>(k)) -
                       images.groups.begin();
    const std::vector<SampleRef> parents = {SampleRef{ref.parent_a, -1, 0.0F, ref.label},
                                            SampleRef{ref.parent_b, -1, 0.0F, ref.label}};
    const LabelledImages p = gather_samples(parents, rows, s.index, *s.cache, m, 3);
    const uint8_t* a = p.images.image(0);
    const auto b_first = std::find(p.groups.begin(), p.groups.end(), 1) - p.groups.begin();
    const uint8_t* b = p.images.image(static_cast<int>(b_first));
    const uint8_t* blend = images.images.image(static_cast<int>(first));
    int differs_from_a = 0;
    for (size_t j = 0; j < bytes; ++j) {
      const double expected = (1.0 - ref.mix) * a[j] + ref.mix * b[j];
      EXPECT_NEAR(blend[j], expected, 0.51) << "pixel " << j;
      differs_from_a += blend[j] != a[j];
    }
    EXPECT_GT(differs_from_a, 0);
    return;  // one checked pixel by pixel is enough
  }
  FAIL() << "no synthetic sample with a mix in [0.2, 0.8]";
}

TEST(MultimodalSampling, RandomOversamplingDuplicatesWholeVisitWoundsWithTheirImages) {
  Study& s = study();
  std::vector<int> all(s.data.rows.size());
  std::iota(all.begin(), all.end(), 0);
  const std::vector<int> rows = rows_with_images(s.index, *s.cache, Modality::kThermalMap, all);
  std::vector<int> labels;
  for (int r : rows) labels.push_back(s.data.rows[r].label);
  SamplingSettings random;
  random.strategy = SamplingStrategy::kRandom;
  const auto refs = plan_samples(s.data, rows, labels, random, 8);
  EXPECT_GT(refs.size(), rows.size());
  const LabelledImages images =
      gather_samples(refs, rows, s.index, *s.cache, ImageModality::kThermalMap, 1);
  // A duplicate brings every view of its visit-wound, byte for byte.
  std::vector<int> per_sample(refs.size(), 0);
  for (int g : images.groups) ++per_sample[g];
  for (size_t k = 0; k < refs.size(); ++k) {
    EXPECT_EQ(refs[k].parent_b, -1);
    const auto own = gather_samples({SampleRef{refs[k].parent_a, -1, 0.0F, refs[k].label}}, rows,
                                    s.index, *s.cache, ImageModality::kThermalMap, 1);
    EXPECT_EQ(per_sample[k], own.images.count);
  }
}

TEST(MetadataBranch, OutOfFoldProbabilitiesAreNotInSampleOnes) {
  Study& s = study();
  std::vector<int> rows(s.data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  TabularSettings t;
  t.forest.n_trees = 100;
  Probabilities oof;
  const MetadataModel model = fit_metadata(s.data, rows, s.data.labels(), t, 17, &oof);
  const Probabilities in_sample = predict_metadata(model, s.data, rows);
  ASSERT_EQ(oof.size(), in_sample.size());
  // In-sample probabilities sit nearer the true class than honest out-of-fold ones.
  double oof_true = 0, in_true = 0, differ = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int y = s.data.rows[i].label;
    oof_true += oof[i * kNumClasses + y];
    in_true += in_sample[i * kNumClasses + y];
    for (int c = 0; c < kNumClasses; ++c)
      differ += std::abs(oof[i * kNumClasses + c] - in_sample[i * kNumClasses + c]);
  }
  EXPECT_GT(differ / rows.size(), 0.05);
  EXPECT_GT(in_true / rows.size(), oof_true / rows.size() + 0.05);
}

}  // namespace
}  // namespace woundphase
