// Training-time augmentation of crops: flips, small rotations, quarter turns, zoom-crops,
// brightness/contrast, noise, cutout.
#include <fmt/format.h>

#include <algorithm>            // for clamp
#include <cmath>                // for sqrt, log, cos, lround
#include <opencv2/imgproc.hpp>  // for warpAffine, getRotationMatrix2D, resize
#include <vector>

#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

constexpr double kMaxRotationDeg = 45;
constexpr double kMaxLevel = 255;
constexpr double kMaxZoom = 0.5;    // at most half the side cropped away
constexpr double kMaxCutout = 0.5;  // at most half the area blanked
constexpr int kQuarterTurns = 4;

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
  int index(int n) {  // uniform in [0, n)
    return std::min(n - 1, static_cast<int>(uniform() * n));
  }
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

cv::Mat as_mat(ImageU8* image) {
  return cv::Mat(image->height, image->width, CV_MAKETYPE(CV_8U, image->channels),
                 image->pixels.data());
}

// The crop of side share `scale` whose top-left corner sits at fractions (fx, fy) of the free
// room, resized back to the image's size.
void zoom_crop(ImageU8* image, double scale, double fx, double fy) {
  const int w = std::max(1, static_cast<int>(std::lround(image->width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(image->height * scale)));
  if (w == image->width && h == image->height) return;
  const int x0 = std::min(image->width - w, static_cast<int>(fx * (image->width - w + 1)));
  const int y0 = std::min(image->height - h, static_cast<int>(fy * (image->height - h + 1)));
  const cv::Mat src = as_mat(image)(cv::Rect(x0, y0, w, h));
  ImageU8 out(image->width, image->height, image->channels);
  cv::Mat dst = as_mat(&out);
  cv::resize(src, dst, dst.size(), 0, 0, cv::INTER_LINEAR);
  *image = std::move(out);
}

// Zeroes one square of `share` of the area (of the shorter side's square on non-square images),
// its top-left corner at fractions (fx, fy) of the free room.
void cut_out(ImageU8* image, double share, double fx, double fy) {
  const int side = std::min(
      std::min(image->width, image->height),
      static_cast<int>(std::lround(std::sqrt(share) * std::min(image->width, image->height))));
  if (side <= 0) return;
  const int x0 = std::min(image->width - side, static_cast<int>(fx * (image->width - side + 1)));
  const int y0 = std::min(image->height - side, static_cast<int>(fy * (image->height - side + 1)));
  for (int y = y0; y < y0 + side; ++y)
    for (int x = x0; x < x0 + side; ++x)
      for (int c = 0; c < image->channels; ++c) image->at(x, y, c) = 0;
}

// Brightness shift, contrast factor around each channel's mean, Gaussian noise of sd `sd`.
void adjust_levels(ImageU8* out, double shift, double factor, double sd, Draw& draw) {
  const size_t pixels = static_cast<size_t>(out->width) * out->height;
  std::vector<double> mean(out->channels, 0.0);
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < out->channels; ++c) mean[c] += out->pixels[i * out->channels + c];
  for (double& m : mean) m /= static_cast<double>(pixels);
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < out->channels; ++c) {
      uint8_t& p = out->pixels[i * out->channels + c];
      double v = (p - mean[c]) * factor + mean[c] + shift;
      if (sd > 0) v += sd * draw.normal();
      p = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
}

}  // namespace

ImageU8 rotate90(const ImageU8& image, int quarter_turns) {
  const int turns = ((quarter_turns % kQuarterTurns) + kQuarterTurns) % kQuarterTurns;
  if (turns == 0) return image;
  const bool odd = turns % 2 == 1;
  ImageU8 out(odd ? image.height : image.width, odd ? image.width : image.height, image.channels);
  const int w = image.width;
  const int h = image.height;
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      // The source pixel of out(x, y) for a counter-clockwise turn by 90, 180, 270 degrees.
      int sx = 0;
      int sy = 0;
      if (turns == 1) {
        sx = w - 1 - y;
        sy = x;
      } else if (turns == 2) {
        sx = w - 1 - x;
        sy = h - 1 - y;
      } else {
        sx = y;
        sy = h - 1 - x;
      }
      for (int c = 0; c < image.channels; ++c) out.at(x, y, c) = image.at(sx, sy, c);
    }
  return out;
}

bool AugmentSettings::any() const {
  return flips || rotation_deg > 0 || brightness > 0 || contrast > 0 || noise > 0 || rot90 > 0 ||
         zoom > 0 || cutout > 0;
}

void AugmentSettings::validate() const {
  if (!(rotation_deg >= 0 && rotation_deg <= kMaxRotationDeg))
    throw InputError(fmt::format("augmentation rotation must be in [0, {}] degrees, got {}",
                                 kMaxRotationDeg, rotation_deg));
  for (const auto& [name, value] : {std::pair<const char*, double>{"brightness", brightness},
                                    {"contrast", contrast},
                                    {"noise", noise},
                                    {"rot90", rot90}})
    if (!(value >= 0 && value <= 1))
      throw InputError(fmt::format("augmentation {} must be in [0, 1], got {}", name, value));
  if (!(zoom >= 0 && zoom <= kMaxZoom))
    throw InputError(fmt::format("--aug-zoom must be in [0, {}], got {}", kMaxZoom, zoom));
  if (!(cutout >= 0 && cutout <= kMaxCutout))
    throw InputError(fmt::format("--aug-cutout must be in [0, {}], got {}", kMaxCutout, cutout));
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
  if (settings.rot90 > 0 && draw.uniform() < settings.rot90)
    out = rotate90(out, 1 + draw.index(kQuarterTurns - 1));
  if (settings.zoom > 0) {
    const double scale = 1.0 - draw.uniform() * settings.zoom;
    const double fx = draw.uniform();
    zoom_crop(&out, scale, fx, draw.uniform());
  }
  const double shift =
      settings.brightness > 0 ? draw.symmetric(settings.brightness) * kMaxLevel : 0;
  const double factor = settings.contrast > 0 ? 1.0 + draw.symmetric(settings.contrast) : 1.0;
  const double sd = settings.noise * kMaxLevel;
  if (shift != 0 || factor != 1.0 || sd != 0) adjust_levels(&out, shift, factor, sd, draw);
  if (settings.cutout > 0) {
    const double fx = draw.uniform();
    cut_out(&out, settings.cutout, fx, draw.uniform());
  }
  return out;
}

}  // namespace woundphase
