// Grad-CAM (ImageModel::grad_cam) on a planted task: the map of the true class puts its mass on
// the planted square that decides the class, not on the noise around it; and it works for every
// built-in backbone.
#include <gtest/gtest.h>

#include "planted_squares.h"
#include "test_device.h"
#include "woundphase/vision.h"

namespace woundphase {
namespace {

constexpr int kSize = 32;

TEST(GradCam, MassOnThePlantedSquareOfTheTrueClass) {
  const LabelledImages train = testing::planted_squares(300, kSize, 1, 1);
  std::vector<std::vector<bool>> inside;
  const LabelledImages test = testing::planted_squares(60, kSize, 1, 2, &inside);
  const VisionSettings s = testing::quick_vision_settings(kSize, 5, 32, 7);
  auto model = create_image_model(s, 1);
  model->fit(train, {}, s);
  const std::vector<float> cam = model->grad_cam(test.images, test.labels);
  ASSERT_EQ(cam.size(), static_cast<size_t>(test.images.count) * kSize * kSize);
  // The square is 1/16 of the image: a map blind to it would put 6.25% of its mass there.
  double share = 0;
  int counted = 0;
  for (int i = 0; i < test.images.count; ++i) {
    double in = 0;
    double total = 0;
    for (int p = 0; p < kSize * kSize; ++p) {
      const float v = cam[static_cast<size_t>(i) * kSize * kSize + p];
      ASSERT_GE(v, 0.0F);
      ASSERT_LE(v, 1.0F);
      total += v;
      in += inside[i][p] ? v : 0;
    }
    if (total == 0) continue;
    share += in / total;
    ++counted;
  }
  ASSERT_GT(counted, test.images.count / 2);
  // The maps come from an 8x8 feature map upsampled to 32x32, so part of the mass spills around
  // the square; at least twice the blind share is on it (measured: 0.17, 2.7 times).
  constexpr double kBlindShare =
      static_cast<double>(testing::kPlantedSquare * testing::kPlantedSquare) / (kSize * kSize);
  EXPECT_GT(share / counted, 2 * kBlindShare)
      << "mean share of the Grad-CAM mass on the planted square";
  // Deterministic: the same maps again.
  EXPECT_EQ(model->grad_cam(test.images, test.labels), cam);
  // A class out of range, or a class list of the wrong length, is an InputError.
  EXPECT_THROW(model->grad_cam(test.images, std::vector<int>(test.images.count, 3)), InputError);
  EXPECT_THROW(model->grad_cam(test.images, {0}), InputError);
}

TEST(GradCam, EveryBuiltInBackboneGivesMapsInTheUnitInterval) {
  std::vector<std::vector<bool>> inside;
  const LabelledImages images = testing::planted_squares(3, kSize, 1, 5, &inside);
  for (const char* backbone : {"simple", "resnet18", "densenet121", "efficientnet_b0"}) {
    VisionSettings s;
    s.backbone = backbone;
    s.image_size = kSize;
    s.threads = 1;
    testing::apply_test_device(&s);
    auto model = create_image_model(s, 1);
    const std::vector<float> cam = model->grad_cam(images.images, images.labels);
    ASSERT_EQ(cam.size(), 3U * kSize * kSize) << backbone;
    for (float v : cam) {
      ASSERT_GE(v, 0.0F) << backbone;
      ASSERT_LE(v, 1.0F) << backbone;
    }
  }
}

}  // namespace
}  // namespace woundphase
