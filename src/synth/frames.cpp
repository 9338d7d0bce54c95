// Synthetic frames. Geometry (foot, wound outlines, the thermal sensor border) comes from the
// frame's seed; every pixel's noise from a hash of (seed, x, y), so drawing order and threads do
// not matter. Sizes are relative to the frame, so a frame looks alike at every image scale.
#include "synth/frames.h"

#include <algorithm>  // for clamp, min, max
#include <array>
#include <cmath>  // for sqrt, atan2, sin, cos, exp, lround, floor
#include <limits>

#include "images/internal.h"  // for fnv1a64
#include "woundphase/core.h"  // for mix_seed

namespace woundphase::synth_internal {
namespace {

using images_internal::fnv1a64;

constexpr double kPi = 3.141592653589793;

// ---- Random numbers ----------------------------------------------------------------------------

uint64_t splitmix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t cell_hash(uint64_t seed, int64_t x, int64_t y) {
  return splitmix(seed ^ splitmix(static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ULL +
                                  static_cast<uint64_t>(y) * 0xC2B2AE3D27D4EB4FULL));
}

double unit(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

// Roughly standard normal: the sum of four 16-bit uniforms of one hash, standardised.
double pixel_noise(uint64_t seed, int x, int y) {
  const uint64_t h = cell_hash(seed, x, y);
  double s = 0;
  for (int k = 0; k < 4; ++k) s += static_cast<double>((h >> (16 * k)) & 0xFFFF) / 65535.0;
  constexpr double kSd = 0.5773502691896258;  // sqrt(4 / 12)
  return (s - 2.0) / kSd;
}

// Smooth noise in [0, 1]: hashed lattice values, bilinear with smoothstep weights.
double value_noise(uint64_t seed, double x, double y) {
  const double fx = std::floor(x);
  const double fy = std::floor(y);
  const auto ix = static_cast<int64_t>(fx);
  const auto iy = static_cast<int64_t>(fy);
  double tx = x - fx;
  double ty = y - fy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  const double v00 = unit(cell_hash(seed, ix, iy));
  const double v10 = unit(cell_hash(seed, ix + 1, iy));
  const double v01 = unit(cell_hash(seed, ix, iy + 1));
  const double v11 = unit(cell_hash(seed, ix + 1, iy + 1));
  return (v00 * (1 - tx) + v10 * tx) * (1 - ty) + (v01 * (1 - tx) + v11 * tx) * ty;
}

// Frame-level draws in a fixed order.
class Draws {
 public:
  explicit Draws(uint64_t seed) : state_(seed) {}
  double uniform() { return unit(splitmix(state_++)); }
  double between(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal(double mean, double sd) {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
  }

 private:
  uint64_t state_;
};

double smoothstep(double t) {
  t = std::clamp(t, 0.0, 1.0);
  return t * t * (3 - 2 * t);
}
double lerp(double a, double b, double t) { return a + (b - a) * t; }

// ---- Looks -------------------------------------------------------------------------------------
// Per phase (I, P, R); each drawn look is neutral + image_signal * (phase - neutral), neutral being
// the mean of the three, so image_signal 0 draws every phase alike.

struct RgbLook {
  std::array<double, 3> base;  // wound bed colour
  double slough;               // share of the bed under yellow slough
  double granulation;          // granular texture contrast
  double rim;                  // width of the pale epithelial rim, share of the radius
};
// Inflammatory: dark red, sloughy; proliferative: beefy granular red; remodeling: pink with a
// pale epithelialising rim.
constexpr std::array<RgbLook, kNumClasses> kRgbLooks = {{
    {{125, 35, 45}, 0.35, 0.10, 0.00},
    {{205, 45, 55}, 0.08, 0.50, 0.08},
    {{228, 150, 150}, 0.00, 0.12, 0.45},
}};

struct DepthLook {
  double depth;  // crater depth, map levels
  double bumps;  // granulation relief, map levels
  double rim;    // raised (callused) edge, map levels
};
constexpr std::array<DepthLook, kNumClasses> kDepthLooks = {{
    {55, 4, 0},
    {28, 18, 4},
    {6, 3, 16},
}};

struct ThermalLook {
  double rim_c;     // °C at the wound edge: inflamed hot rim ... cool healed edge
  double mottle_c;  // °C amplitude of patchy warmth in the bed
};
constexpr std::array<ThermalLook, kNumClasses> kThermalLooks = {{
    {2.2, 0.3},
    {0.4, 1.2},
    {-1.4, 0.1},
}};

// Each wound's own look varies around its phase's (the same wound looks alike in every frame of a
// visit): the phases overlap, so the images carry part of the phase, not all of it.
constexpr double kRgbColourAxisSd = 0.3;  // share of the inflammatory .. remodeling colour step
constexpr double kRgbBrightnessSd = 0.12;
constexpr double kRgbChannelSd = 8;
constexpr double kRgbShareSd = 0.1;
constexpr double kDepthSd = 16;
constexpr double kDepthReliefSd = 5;
constexpr double kThermalRimSd = 1.0;
constexpr double kThermalMottleSd = 0.3;

template <typename Look, typename Field>
double neutral_of(const std::array<Look, kNumClasses>& looks, Field field) {
  double sum = 0;
  for (const Look& l : looks) sum += field(l);
  return sum / kNumClasses;
}

// neutral + signal * (phase - neutral) of one field; the neutral value for an unknown phase.
template <typename Look, typename Field>
double mix(const std::array<Look, kNumClasses>& looks, int phase, double signal, Field field) {
  const double neutral = neutral_of(looks, field);
  return phase < 0 ? neutral : lerp(neutral, field(looks[phase]), signal);
}

RgbLook rgb_look(int phase, double signal, uint64_t wound_seed) {
  Draws d(mix_seed(wound_seed, 1));
  RgbLook out{};
  // Colour varies along the dark-red .. pink axis, in brightness, and a little per channel.
  const double along = d.normal(0, kRgbColourAxisSd);
  const double brightness = std::exp(d.normal(0, kRgbBrightnessSd));
  for (int c = 0; c < 3; ++c) {
    const double axis = kRgbLooks[2].base[c] - kRgbLooks[0].base[c];
    out.base[c] = (mix(kRgbLooks, phase, signal, [c](const RgbLook& l) { return l.base[c]; }) +
                   along * axis) *
                      brightness +
                  d.normal(0, kRgbChannelSd);
  }
  out.slough = std::clamp(mix(kRgbLooks, phase, signal, [](const RgbLook& l) { return l.slough; }) +
                              d.normal(0, kRgbShareSd),
                          0.0, 0.6);
  out.granulation = std::max(0.0, mix(kRgbLooks, phase, signal, [](const RgbLook& l) {
                                    return l.granulation;
                                  }) + d.normal(0, kRgbShareSd));
  out.rim = std::clamp(mix(kRgbLooks, phase, signal, [](const RgbLook& l) { return l.rim; }) +
                           d.normal(0, kRgbShareSd),
                       0.0, 0.7);
  return out;
}

DepthLook depth_look(int phase, double signal, uint64_t wound_seed) {
  Draws d(mix_seed(wound_seed, 2));
  DepthLook out{};
  out.depth = std::max(0.0, mix(kDepthLooks, phase, signal, [](const DepthLook& l) {
                              return l.depth;
                            }) + d.normal(0, kDepthSd));
  out.bumps = std::max(0.0, mix(kDepthLooks, phase, signal, [](const DepthLook& l) {
                              return l.bumps;
                            }) + d.normal(0, kDepthReliefSd));
  out.rim = std::max(0.0, mix(kDepthLooks, phase, signal, [](const DepthLook& l) {
                            return l.rim;
                          }) + d.normal(0, kDepthReliefSd));
  return out;
}

ThermalLook thermal_look(int phase, double signal, uint64_t wound_seed) {
  Draws d(mix_seed(wound_seed, 3));
  ThermalLook out{};
  out.rim_c = mix(kThermalLooks, phase, signal, [](const ThermalLook& l) { return l.rim_c; }) +
              d.normal(0, kThermalRimSd);
  out.mottle_c = std::max(0.0, mix(kThermalLooks, phase, signal, [](const ThermalLook& l) {
                                 return l.mottle_c;
                               }) + d.normal(0, kThermalMottleSd));
  return out;
}

// ---- Scene -------------------------------------------------------------------------------------

constexpr double kFootLong = 0.57;    // foot half-length, share of the frame's shorter side
constexpr double kFootWide = 0.27;    // foot half-width
constexpr double kFootJitter = 0.08;  // relative spread of both
constexpr double kZoomFoot = 1.6;     // zoomed shots: the foot fills more of the frame
constexpr double kWoundInFoot = 0.8;  // wound boxes' corners lie within this share of the foot
constexpr double kWoundFill = 0.85;   // wound outline radius, share of the box's half-size
constexpr double kThermalValidSide = 0.728;   // valid thermal area per side: 53% of the frame
constexpr double kThermalValidMarginPx = 40;  // full-frame px kept valid around each box
constexpr int kToes = 5;
constexpr double kToesStart = 0.6;  // along the foot (share of its half-length): toes lie beyond

struct Foot {
  double cx = 0, cy = 0, a = 1, b = 1, cos_t = 1, sin_t = 0;
  double toe_r = 0;
  std::array<std::array<double, 2>, kToes> toes{};
  // Normalised radius (< 1 inside) and the coordinate along the foot (-1 heel .. 1 toes).
  double rho(double x, double y, double* along) const {
    const double dx = x - cx;
    const double dy = y - cy;
    const double u = dx * cos_t + dy * sin_t;
    const double v = -dx * sin_t + dy * cos_t;
    *along = u / a;
    double r = std::sqrt((u / a) * (u / a) + (v / b) * (v / b));
    if (u < a * kToesStart) return r;  // the toes sit at the front end
    double nearest2 = std::numeric_limits<double>::infinity();
    for (const auto& t : toes) {
      const double dx_t = x - t[0];
      const double dy_t = y - t[1];
      nearest2 = std::min(nearest2, dx_t * dx_t + dy_t * dy_t);
    }
    return std::min(r, std::sqrt(nearest2) / toe_r);
  }
};

struct WoundShape {
  double cx = 0, cy = 0, rx = 1, ry = 1;
  std::array<double, 2> phase_shift{};
  std::array<double, 2> amplitude{};
  Box reach;  // pixels where the wound's surroundings are drawn
  // Normalised radius: < 1 inside the irregular outline.
  double q(double x, double y) const {
    const double dx = (x - cx) / rx;
    const double dy = (y - cy) / ry;
    const double r = std::sqrt(dx * dx + dy * dy);
    const double phi = std::atan2(dy, dx);
    const double edge = 1.0 + amplitude[0] * std::sin(3 * phi + phase_shift[0]) +
                        amplitude[1] * std::sin(5 * phi + phase_shift[1]);
    return r / edge;
  }
};

struct Scene {
  Foot foot;
  std::vector<WoundShape> wounds;
  Box valid;  // thermal frames: the area inside the sensor border
  std::array<double, 3> background{};
  double temp_offset_c = 0;  // frame-level calibration drift
  double room_c = 23;
};

constexpr double kReach = 2.0;  // surroundings drawn up to twice the outline's radius

Scene make_scene(const FrameSpec& f, const DrawSettings& settings) {
  Draws d(mix_seed(settings.seed, fnv1a64(f.file_name)));
  Scene s;
  const bool thermal = f.name.camera == Camera::kThermal;
  const double side = std::min(f.width, f.height);
  const double zoom = f.name.zoom == Zoom::kZoom ? kZoomFoot : 1.0;
  Foot& foot = s.foot;
  foot.a = side * kFootLong * zoom * d.between(1 - kFootJitter, 1 + kFootJitter);
  foot.b = side * kFootWide * zoom * d.between(1 - kFootJitter, 1 + kFootJitter);
  double theta = d.normal(thermal ? kPi / 2 : 0.0, 0.25) + (d.uniform() < 0.5 ? kPi : 0.0);
  foot.cos_t = std::cos(theta);
  foot.sin_t = std::sin(theta);
  // The wounds' union box; the foot is placed around it.
  Box u{f.width, f.height, 0, 0};
  for (const auto& w : f.wounds)
    u = {std::min(u.xmin, w.box.xmin), std::min(u.ymin, w.box.ymin), std::max(u.xmax, w.box.xmax),
         std::max(u.ymax, w.box.ymax)};
  if (f.wounds.empty()) u = {f.width / 2, f.height / 2, f.width / 2 + 1, f.height / 2 + 1};
  const double ux = 0.5 * (u.xmin + u.xmax);
  const double uy = 0.5 * (u.ymin + u.ymax);
  const double du = d.between(-0.45, 0.45) * foot.a;
  const double dv = d.between(-0.35, 0.35) * foot.b;
  foot.cx = ux - (du * foot.cos_t - dv * foot.sin_t);
  foot.cy = uy - (du * foot.sin_t + dv * foot.cos_t);
  // Grow the foot until every box corner lies well inside it.
  double worst = 0;
  for (const auto& w : f.wounds)
    for (double x : {w.box.xmin, w.box.xmax})
      for (double y : {w.box.ymin, w.box.ymax}) {
        double along = 0;
        worst = std::max(worst, foot.rho(x, y, &along));
      }
  if (worst > kWoundInFoot) {
    foot.a *= worst / kWoundInFoot;
    foot.b *= worst / kWoundInFoot;
  }
  foot.toe_r = 0.2 * foot.b;
  for (int t = 0; t < kToes; ++t) {
    const double u_t = foot.a * (0.98 - 0.03 * std::abs(t - 2));
    const double v_t = foot.b * (t - 2) * 0.32;
    foot.toes[t] = {foot.cx + u_t * foot.cos_t - v_t * foot.sin_t,
                    foot.cy + u_t * foot.sin_t + v_t * foot.cos_t};
  }

  for (const auto& w : f.wounds) {
    WoundShape shape;
    shape.cx = 0.5 * (w.box.xmin + w.box.xmax);
    shape.cy = 0.5 * (w.box.ymin + w.box.ymax);
    shape.rx = std::max(0.5, kWoundFill * 0.5 * w.box.width());
    shape.ry = std::max(0.5, kWoundFill * 0.5 * w.box.height());
    shape.phase_shift = {d.between(0, 2 * kPi), d.between(0, 2 * kPi)};
    shape.amplitude = {d.between(0.03, 0.10), d.between(0.02, 0.06)};
    const double reach_x = kReach * shape.rx + 2;
    const double reach_y = kReach * shape.ry + 2;
    shape.reach = {std::max(0, static_cast<int>(shape.cx - reach_x)),
                   std::max(0, static_cast<int>(shape.cy - reach_y)),
                   std::min(f.width, static_cast<int>(shape.cx + reach_x) + 1),
                   std::min(f.height, static_cast<int>(shape.cy + reach_y) + 1)};
    s.wounds.push_back(shape);
  }

  // Thermal sensor border: ~47% of the frame black, the valid area around the wounds.
  const double vw = kThermalValidSide * f.width;
  const double vh = kThermalValidSide * f.height;
  const double vx = std::clamp(ux + d.normal(0, 0.05) * f.width - vw / 2, 0.0, f.width - vw);
  const double vy = std::clamp(uy + d.normal(0, 0.05) * f.height - vh / 2, 0.0, f.height - vh);
  s.valid = {static_cast<int>(std::lround(vx)), static_cast<int>(std::lround(vy)),
             static_cast<int>(std::lround(vx + vw)), static_cast<int>(std::lround(vy + vh))};
  const int margin =
      static_cast<int>(std::ceil(kThermalValidMarginPx * f.width / kThermalFrameWidth));
  for (const auto& w : f.wounds)
    s.valid = {std::max(0, std::min(s.valid.xmin, w.box.xmin - margin)),
               std::max(0, std::min(s.valid.ymin, w.box.ymin - margin)),
               std::min(f.width, std::max(s.valid.xmax, w.box.xmax + margin)),
               std::min(f.height, std::max(s.valid.ymax, w.box.ymax + margin))};

  constexpr std::array<std::array<double, 3>, 4> kDrapes = {
      {{62, 98, 150}, {70, 122, 104}, {138, 140, 146}, {196, 200, 204}}};
  s.background = kDrapes[static_cast<size_t>(d.uniform() * kDrapes.size()) % kDrapes.size()];
  s.temp_offset_c = d.normal(0, 0.4);
  s.room_c = d.normal(23.0, 1.0);
  return s;
}

// The wound nearest to a pixel (smallest normalised radius) and that radius; -1 if none is near.
int nearest_wound(const Scene& s, double x, double y, double* q) {
  int best = -1;
  *q = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < s.wounds.size(); ++k) {
    const WoundShape& w = s.wounds[k];
    const int px = static_cast<int>(x);
    const int py = static_cast<int>(y);
    if (px < w.reach.xmin || px >= w.reach.xmax || py < w.reach.ymin || py >= w.reach.ymax)
      continue;
    const double qk = w.q(x, y);
    if (qk < *q) {
      *q = qk;
      best = static_cast<int>(k);
    }
  }
  return best;
}

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// ---- RGB (depth camera and thermal camera's visible frames) ------------------------------------

constexpr std::array<double, 3> kSkin = {206, 164, 134};
constexpr std::array<double, 3> kCallus = {232, 214, 186};
constexpr std::array<double, 3> kSlough = {214, 196, 112};
constexpr std::array<double, 3> kEpithelium = {236, 198, 188};
constexpr double kAfterDebridementSlough = 0.3;  // debridement removes most slough
constexpr double kRgbNoise = 4.0;
constexpr double kLightingSd = 6.0;  // per frame and channel: lighting differs between shots

ImageU8 draw_rgb(const FrameSpec& f, const Scene& s, const DrawSettings& settings, uint64_t seed) {
  ImageU8 img(f.width, f.height, 3);
  Draws patient(f.patient_seed);
  const double tone = patient.between(0.62, 1.05);
  std::vector<RgbLook> looks;
  std::vector<std::array<double, 3>> jitter;
  Draws d(mix_seed(seed, 1));
  for (const auto& w : f.wounds) {
    RgbLook look = rgb_look(w.phase, settings.image_signal, w.wound_seed);
    if (f.name.debridement == Debridement::kAfter) look.slough *= kAfterDebridementSlough;
    looks.push_back(look);
    jitter.push_back(
        {d.normal(0, kLightingSd), d.normal(0, kLightingSd), d.normal(0, kLightingSd)});
  }
  const double side = std::min(f.width, f.height);
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) {
      const double px = x + 0.5;
      const double py = y + 0.5;
      std::array<double, 3> c{};
      double along = 0;
      const double rho = s.foot.rho(px, py, &along);
      if (rho < 1.0) {
        const double shade = 0.72 + 0.28 * std::sqrt(1.0 - rho * rho);
        const double mottle =
            0.06 * (value_noise(seed ^ 0x51, px * 12 / side, py * 12 / side) - 0.5);
        for (int k = 0; k < 3; ++k) c[k] = kSkin[k] * tone * shade * (1 + mottle);
      } else {
        const double grad = 0.85 + 0.3 * py / f.height;
        for (int k = 0; k < 3; ++k) c[k] = s.background[k] * grad;
      }
      double q = 0;
      const int wi = rho < 1.0 ? nearest_wound(s, px, py, &q) : -1;
      if (wi >= 0) {
        const WoundShape& w = s.wounds[wi];
        const RgbLook& look = looks[wi];
        if (q < 1.0) {
          const double cell = std::max(0.7, std::min(w.rx, w.ry) / 3);
          const double gran = value_noise(seed ^ (0x100 + wi), px / cell, py / cell) - 0.5;
          for (int k = 0; k < 3; ++k)
            c[k] = (look.base[k] + jitter[wi][k]) * (1 + 1.2 * look.granulation * gran);
          const double slough_cell = std::max(0.7, std::min(w.rx, w.ry) / 2);
          const double sl = value_noise(seed ^ (0x200 + wi), px / slough_cell, py / slough_cell);
          if (sl > 1.0 - look.slough)
            for (int k = 0; k < 3; ++k) c[k] = lerp(c[k], kSlough[k], 0.8);
          if (look.rim > 0) {
            const double t = smoothstep((q - (1.0 - look.rim)) / std::max(look.rim, 1e-6));
            for (int k = 0; k < 3; ++k) c[k] = lerp(c[k], kEpithelium[k], 0.85 * t);
          }
        } else if (q < 1.35) {  // callused peri-wound skin, the same for every phase
          const double t = 0.5 * (1.0 - (q - 1.0) / 0.35);
          for (int k = 0; k < 3; ++k) c[k] = lerp(c[k], kCallus[k], t);
        }
      }
      for (int k = 0; k < 3; ++k)
        img.at(x, y, k) = to_byte(c[k] + kRgbNoise * pixel_noise(seed + k, x, y));
    }
  return img;
}

// ---- Depth map ---------------------------------------------------------------------------------

constexpr double kDepthBackground = 25;
constexpr double kDepthFoot = 110;
constexpr double kDepthDome = 80;
constexpr double kDepthZoomCloser = 20;
constexpr double kDepthNoise = 1.5;

ImageU8 draw_depth_map(const FrameSpec& f, const Scene& s, const DrawSettings& settings,
                       uint64_t seed) {
  ImageU8 img(f.width, f.height, 1);
  std::vector<DepthLook> looks;
  for (const auto& w : f.wounds)
    looks.push_back(depth_look(w.phase, settings.image_signal, w.wound_seed));
  const double closer = f.name.zoom == Zoom::kZoom ? kDepthZoomCloser : 0.0;
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) {
      const double px = x + 0.5;
      const double py = y + 0.5;
      double along = 0;
      const double rho = s.foot.rho(px, py, &along);
      double v = kDepthBackground + 25.0 * py / f.height;
      if (rho < 1.0) {
        v = kDepthFoot + closer + kDepthDome * std::sqrt(1.0 - rho * rho);
        double q = 0;
        const int wi = nearest_wound(s, px, py, &q);
        if (wi >= 0) {
          const DepthLook& look = looks[wi];
          const WoundShape& w = s.wounds[wi];
          if (q < 1.0) {
            const double cell = std::max(0.7, std::min(w.rx, w.ry) / 3);
            const double bump = value_noise(seed ^ (0x300 + wi), px / cell, py / cell) - 0.5;
            v += -look.depth * (1.0 - q * q) + look.bumps * bump;
          }
          v += look.rim * std::exp(-((q - 1.0) / 0.18) * ((q - 1.0) / 0.18));
        }
      }
      img.at(x, y, 0) = to_byte(v + kDepthNoise * pixel_noise(seed, x, y));
    }
  return viridis_encode(img);
}

// ---- Thermal map -------------------------------------------------------------------------------

constexpr double kThermalMinC = 18;  // the colour scale: 18 °C -> 0, 38 °C -> 255
constexpr double kThermalMaxC = 38;
constexpr double kToesCooler = 1.2;  // °C cooler at the toes than mid-foot
constexpr double kEdgeCooler = 0.8;  // °C cooler at the foot's outline
constexpr double kPeriReach = 0.9;   // peri-ulcer zone, in outline radii beyond the edge
constexpr double kThermalNoise = 0.12;

ImageU8 draw_thermal_map(const FrameSpec& f, const Scene& s, const DrawSettings& settings,
                         uint64_t seed) {
  ImageU8 img(f.width, f.height, 3, 0);  // black: the sensor border
  std::vector<ThermalLook> looks;
  for (const auto& w : f.wounds)
    looks.push_back(thermal_look(w.phase, settings.image_signal, w.wound_seed));
  // Intact skin of the frame: the first wound's visit (all wounds of a frame share the visit).
  const double intact = f.wounds.empty() ? 30.0 : f.wounds.front().intact_c;
  const double scale = 255.0 / (kThermalMaxC - kThermalMinC);
  const Rgb* table = viridis_table().data();
  for (int y = s.valid.ymin; y < s.valid.ymax; ++y)
    for (int x = s.valid.xmin; x < s.valid.xmax; ++x) {
      const double px = x + 0.5;
      const double py = y + 0.5;
      double along = 0;
      const double rho = s.foot.rho(px, py, &along);
      double t = s.room_c + 1.0 * py / f.height;
      if (rho < 1.0) {
        const double skin =
            intact + s.temp_offset_c - kToesCooler * std::max(0.0, along) - kEdgeCooler * rho * rho;
        t = skin;
        double q = 0;
        const int wi = nearest_wound(s, px, py, &q);
        if (wi >= 0) {
          const WoundSpec& w = f.wounds[wi];
          const ThermalLook& look = looks[wi];
          const double peri = w.peri_c + s.temp_offset_c;
          const double centre = w.wound_c + s.temp_offset_c;
          if (q < 1.0) {
            t = peri + (centre - peri) * (1.0 - q * q);
            const WoundShape& shape = s.wounds[wi];
            const double cell = std::max(0.7, std::min(shape.rx, shape.ry) / 2.5);
            t += 2.0 * look.mottle_c *
                 (value_noise(seed ^ (0x400 + wi), px / cell, py / cell) - 0.5);
          } else {
            t = lerp(peri, skin, smoothstep((q - 1.0) / kPeriReach));
          }
          t += look.rim_c * std::exp(-((q - 1.0) / 0.2) * ((q - 1.0) / 0.2));
        }
      }
      t += kThermalNoise * pixel_noise(seed, x, y);
      const Rgb& c = table[to_byte((t - kThermalMinC) * scale)];
      for (int k = 0; k < 3; ++k) img.at(x, y, k) = c[k];
    }
  return img;
}

}  // namespace

ImageU8 draw_frame(ImageModality m, const FrameSpec& frame, const DrawSettings& settings) {
  const Scene scene = make_scene(frame, settings);
  const uint64_t seed =
      mix_seed(mix_seed(settings.seed, fnv1a64(frame.file_name)), 1 + static_cast<uint64_t>(m));
  switch (m) {
    case ImageModality::kThermalMap:
      return draw_thermal_map(frame, scene, settings, seed);
    case ImageModality::kDepthMap:
      return draw_depth_map(frame, scene, settings, seed);
    case ImageModality::kDepthRgb:
    case ImageModality::kThermalRgb:
      break;
  }
  return draw_rgb(frame, scene, settings, seed);
}

}  // namespace woundphase::synth_internal
