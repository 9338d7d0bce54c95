// Training-time augmentation of crops: flips, small rotations, brightness/contrast, noise.
#include <fmt/format.h>

#include <algorithm>            // for clamp
#include <cmath>                // for sqrt, log, cos, lround
#include <opencv2/imgproc.hpp>  // for warpAffine, getRotationMatrix2D
#include <vector>

#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

constexpr double kMaxRotationDeg = 45;
constexpr double kMaxLevel = 255;

// Draws from the engine's raw output through fixed transforms (std:: distributions differ
// between standard libraries).
class Draw {
 public:
  explicit Draw(std::mt19937_64& rng) : rng_(rng) {}
  double uniform() {  // [0, 1), 53 bits
    constexpr double kScale = 1.0 / 9007199254740992.0;
    return static_cast<double>(rng_() >> 11) * kScale;
  }
  double symmetric(double half_width) { return (2.0 * uniform() - 1.0) * half_width; }
  double normal() {  // Box-Muller
    constexpr double kTwoPi = 6.283185307179586;
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }

 private:
  std::mt19937_64& rng_;
};

void flip(ImageU8* image, bool horizontal) {
  ImageU8 out(image->width, image->height, image->channels);
  for (int y = 0; y < image->height; ++y)
    for (int x = 0; x < image->width; ++x) {
      const int sx = horizontal ? image->width - 1 - x : x;
      const int sy = horizontal ? y : image->height - 1 - y;
      for (int c = 0; c < image->channels; ++c) out.at(x, y, c) = image->at(sx, sy, c);
    }
  *image = std::move(out);
}

void rotate(ImageU8* image, double degrees) {
  cv::Mat src(image->height, image->width, CV_MAKETYPE(CV_8U, image->channels),
              image->pixels.data());
  const cv::Point2f centre(static_cast<float>(image->width - 1) / 2.0f,
                           static_cast<float>(image->height - 1) / 2.0f);
  const cv::Mat m = cv::getRotationMatrix2D(centre, degrees, 1.0);
  cv::Mat dst;
  cv::warpAffine(src, dst, m, src.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar());
  ImageU8 out(image->width, image->height, image->channels);
  const size_t row_bytes = static_cast<size_t>(image->width) * image->channels;
  for (int y = 0; y < image->height; ++y)
    std::copy(dst.ptr<uint8_t>(y), dst.ptr<uint8_t>(y) + row_bytes,
              out.pixels.begin() + static_cast<ptrdiff_t>(y * row_bytes));
  *image = std::move(out);
}

}  // namespace

bool AugmentSettings::any() const {
  return flips || rotation_deg > 0 || brightness > 0 || contrast > 0 || noise > 0;
}

void AugmentSettings::validate() const {
  if (!(rotation_deg >= 0 && rotation_deg <= kMaxRotationDeg))
    throw InputError(fmt::format("augmentation rotation must be in [0, {}] degrees, got {}",
                                 kMaxRotationDeg, rotation_deg));
  for (const auto& [name, value] : {std::pair<const char*, double>{"brightness", brightness},
                                    {"contrast", contrast},
                                    {"noise", noise}})
    if (!(value >= 0 && value <= 1))
      throw InputError(fmt::format("augmentation {} must be in [0, 1], got {}", name, value));
}

AugmentSettings AugmentSettings::training() {
  AugmentSettings s;
  s.flips = true;
  s.rotation_deg = 10;
  s.brightness = 0.1;
  s.contrast = 0.1;
  s.noise = 0.02;
  return s;
}

ImageU8 augment(const ImageU8& image, const AugmentSettings& settings, std::mt19937_64& rng) {
  settings.validate();
  if (!settings.any() || image.empty()) return image;
  Draw draw(rng);
  ImageU8 out = image;
  // A fixed order of draws: each enabled transform draws the same numbers every time.
  if (settings.flips) {
    const bool horizontal = draw.uniform() < 0.5;
    const bool vertical = draw.uniform() < 0.5;
    if (horizontal) flip(&out, true);
    if (vertical) flip(&out, false);
  }
  if (settings.rotation_deg > 0) rotate(&out, draw.symmetric(settings.rotation_deg));
  const double shift =
      settings.brightness > 0 ? draw.symmetric(settings.brightness) * kMaxLevel : 0;
  const double factor = settings.contrast > 0 ? 1.0 + draw.symmetric(settings.contrast) : 1.0;
  const double sd = settings.noise * kMaxLevel;
  if (shift == 0 && factor == 1.0 && sd == 0) return out;

  const size_t pixels = static_cast<size_t>(out.width) * out.height;
  std::vector<double> mean(out.channels, 0.0);
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < out.channels; ++c) mean[c] += out.pixels[i * out.channels + c];
  for (double& m : mean) m /= static_cast<double>(pixels);
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < out.channels; ++c) {
      uint8_t& p = out.pixels[i * out.channels + c];
      double v = (p - mean[c]) * factor + mean[c] + shift;
      if (sd > 0) v += sd * draw.normal();
      p = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  return out;
}

}  // namespace woundphase
