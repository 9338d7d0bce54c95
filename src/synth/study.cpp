// `woundphase synth` with images: the metadata (synthetic, or copied with --from), the box files
// (drawn per visit-wound, or the real ones rescaled) and the frames they name.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>  // for clamp, sort, min, max
#include <cmath>      // for floor, ceil, exp, log, lround
#include <filesystem>
#include <fstream>
#include <iterator>  // for istreambuf_iterator
#include <map>
#include <string>
#include <system_error>  // for error_code
#include <tuple>
#include <vector>

#include "images/internal.h"
#include "synth/frames.h"
#include "woundphase/core.h"  // for InputError, mix_seed
#include "woundphase/images.h"
#include "woundphase/synth.h"
#include "woundphase/timing.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;
using images_internal::fnv1a64;

constexpr int kMaxImagePatients = 999;  // the naming code has three digits for the patient
constexpr int kMinFrameSide = 8;        // pixels: the smallest frame side drawn
constexpr char kLineEnd[] = "\r\n";

// Salts of the seeded streams (any distinct constants).
constexpr uint64_t kBoxStream = 0xB0C5;
constexpr uint64_t kPatientStream = 0x5EED;
constexpr uint64_t kTemperatureStream = 0x7E3F;
constexpr uint64_t kWoundStream = 0x3A1D;

// ---- Cohort structure of synthetic studies (the real study's shares) ---------------------------
constexpr double kNoImages = 0.25;           // visit-wounds without any frame (real: 27%)
constexpr double kBeforeDebridement = 0.68;  // visits also shot before debridement
constexpr double kAngleKept = 0.93;          // each of the wide left/middle/right shots
constexpr double kZoomShot = 0.08;           // an extra zoomed middle shot
constexpr double kDepthFrameMissing = 0.015;
constexpr double kThermalFrameMissing = 0.025;
// Wound boxes in full-frame depth pixels (real median 56 x 58, range 16..512).
constexpr double kBoxMedianPx = 56;
constexpr double kBoxLogSd = 0.5;
constexpr double kMinBoxPx = 16;
constexpr double kMaxBoxPx = 400;
constexpr double kVisitSizeLogSd = 0.12;
constexpr double kShotSizeLogSd = 0.06;
constexpr double kZoomBox = 1.9;
constexpr double kAngleShift = 0.07;  // share of the frame width between angles
constexpr double kShotJitter = 0.015;
// Thermal boxes are larger (real median 65 x 84): the thermal camera is closer.
constexpr double kThermalBoxWidth = 1.15;
constexpr double kThermalBoxHeight = 1.45;

// Temperatures for visits whose columns are blank, as synth draws them (see src/synth/cohort.cpp).
constexpr std::array<double, kNumClasses> kWoundTempShift = {0.8, 0.0, -1.5};
constexpr std::array<double, kNumClasses> kPeriTempShift = {0.5, 0.0, -0.9};
constexpr double kWoundTempOffset = -0.4;
constexpr double kWoundTempNoise = 2.0;
constexpr double kPeriTempOffset = -0.1;
constexpr double kPeriTempNoise = 1.5;
constexpr double kSkinTempMean = 30.1;
constexpr double kSkinTempPatientSd = 1.8;
constexpr double kSkinTempVisitSd = 1.5;
constexpr double kMinTemp = 12.4;
constexpr double kMaxTemp = 39.9;

constexpr std::array<const char*, 3> kTemperatureColumns = {
    "Wound Centre Temperature (°C)", "Peri-Ulcer Temperature (°C)", "Intact Skin Temperature (°C)"};

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  bool chance(double p) { return uniform() < p; }
  double normal(double mean, double sd) {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double between(double lo, double hi) { return lo + (hi - lo) * uniform(); }

 private:
  std::mt19937_64 engine_;
};

int frame_side(int full, double scale) {
  return std::max(kMinFrameSide, static_cast<int>(std::lround(full * scale)));
}

// A full-frame box at `scale`: outward rounding keeps the wound inside, at least 1 px, clamped.
Box scale_box(const Box& full, double scale, int width, int height) {
  Box b{static_cast<int>(std::floor(full.xmin * scale)),
        static_cast<int>(std::floor(full.ymin * scale)),
        static_cast<int>(std::ceil(full.xmax * scale)),
        static_cast<int>(std::ceil(full.ymax * scale))};
  b.xmin = std::clamp(b.xmin, 0, width - 1);
  b.ymin = std::clamp(b.ymin, 0, height - 1);
  b.xmax = std::clamp(b.xmax, b.xmin + 1, width);
  b.ymax = std::clamp(b.ymax, b.ymin + 1, height);
  return b;
}

// One row of a box file; text fields as written.
struct BoxRow {
  std::string file;
  std::array<std::string, 8> text;  // Filename .. Bounding Box Number
  Box box;                          // at the drawn scale
  ImageName name;
  long dfu = 0;  // the wound the box outlines (DFU#; the name's digit may differ)
  int row = -1;  // dataset row of (Patient#, Appt#, DFU#); -1 when the metadata lacks it
};

std::string box_file_text(const std::vector<BoxRow>& rows) {
  std::string out = std::string(kBoxHeader) + kLineEnd;
  for (const BoxRow& r : rows) {
    for (const auto& t : r.text) out += csv_field(t) + ",";
    out += fmt::format("{},{},{},{}{}", r.box.xmin, r.box.ymin, r.box.xmax, r.box.ymax, kLineEnd);
  }
  return out;
}

using VisitKey = std::tuple<std::string, long, long>;

std::map<VisitKey, int> row_lookup(const Dataset& data) {
  std::map<VisitKey, int> out;
  for (size_t r = 0; r < data.rows.size(); ++r) {
    const VisitWound& row = data.rows[r];
    out.emplace(VisitKey{normalise_patient(data.patients[row.patient]), row.appt, row.dfu},
                static_cast<int>(r));
  }
  return out;
}

// ---- Synthetic boxes ---------------------------------------------------------------------------

struct WoundPlace {
  double size = 0, aspect = 1;
  double dx = 0.5, dy = 0.5;  // depth frame, share of width / height
  double tx = 0.5, ty = 0.5;  // thermal frame
};

Box place_box(double cx, double cy, double w, double h, int width, int height) {
  w = std::min(w, width - 2.0);
  h = std::min(h, height - 2.0);
  cx = std::clamp(cx, w / 2 + 1, width - w / 2 - 1);
  cy = std::clamp(cy, h / 2 + 1, height - h / 2 - 1);
  return {static_cast<int>(std::lround(cx - w / 2)), static_cast<int>(std::lround(cy - h / 2)),
          static_cast<int>(std::lround(cx + w / 2)), static_cast<int>(std::lround(cy + h / 2))};
}

// The views of one patient's visit-wounds: image numbers run per patient; each draw comes from
// the patient's own stream, so the boxes do not depend on the other patients.
void synthesise_patient_boxes(const Dataset& data, int patient, const std::vector<int>& rows,
                              const SynthSettings& settings, std::vector<BoxRow>* depth,
                              std::vector<BoxRow>* thermal) {
  const std::string& id = data.patients[patient];
  Rng rng(mix_seed(settings.seed ^ kBoxStream, fnv1a64(id)));
  std::vector<int> order = rows;
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return std::tie(data.rows[a].appt, data.rows[a].dfu) <
           std::tie(data.rows[b].appt, data.rows[b].dfu);
  });
  std::map<long, WoundPlace> places;
  long next_image = 1;
  for (int r : order) {
    const VisitWound& vw = data.rows[r];
    auto [it, fresh] = places.try_emplace(vw.dfu);
    WoundPlace& place = it->second;
    if (fresh) {
      place.size =
          std::clamp(std::exp(rng.normal(std::log(kBoxMedianPx), kBoxLogSd)), kMinBoxPx, kMaxBoxPx);
      place.aspect = std::exp(rng.normal(0, 0.2));
      place.dx = rng.between(0.35, 0.65);
      place.dy = rng.between(0.35, 0.70);
      place.tx = rng.between(0.35, 0.65);
      place.ty = rng.between(0.35, 0.75);
    }
    if (rng.chance(kNoImages)) continue;
    const double visit_size = place.size * std::exp(rng.normal(0, kVisitSizeLogSd));
    std::vector<Debridement> states;
    if (rng.chance(kBeforeDebridement)) states.push_back(Debridement::kBefore);
    states.push_back(Debridement::kAfter);
    for (Debridement state : states) {
      std::vector<std::pair<Angle, Zoom>> shots;
      for (Angle a : {Angle::kLeft, Angle::kMiddle, Angle::kRight})
        if (rng.chance(kAngleKept)) shots.emplace_back(a, Zoom::kWide);
      if (shots.empty()) shots.emplace_back(Angle::kMiddle, Zoom::kWide);
      if (rng.chance(kZoomShot)) shots.emplace_back(Angle::kMiddle, Zoom::kZoom);
      for (const auto& [angle, zoom] : shots) {
        const long n = next_image++;
        bool has_depth = !rng.chance(kDepthFrameMissing);
        const bool has_thermal = !rng.chance(kThermalFrameMissing);
        if (!has_depth && !has_thermal) has_depth = true;
        const double shift = (static_cast<int>(angle) - 1) * kAngleShift;
        const double zoom_factor = zoom == Zoom::kZoom ? kZoomBox : 1.0;
        const double w = visit_size * zoom_factor * std::exp(rng.normal(0, kShotSizeLogSd));
        const double h = w * place.aspect;
        const double jx = rng.normal(0, kShotJitter);
        const double jy = rng.normal(0, kShotJitter);
        const Box depth_box = place_box((place.dx + shift + jx) * kDepthFrameWidth,
                                        (place.dy + jy) * kDepthFrameHeight, w, h, kDepthFrameWidth,
                                        kDepthFrameHeight);
        const Box thermal_box =
            place_box((place.tx + 0.8 * shift + jx) * kThermalFrameWidth,
                      (place.ty + jy) * kThermalFrameHeight, w * kThermalBoxWidth,
                      h * kThermalBoxHeight, kThermalFrameWidth, kThermalFrameHeight);
        ImageName name;
        name.index = n;
        name.patient = normalise_patient(id);
        name.appt = vw.appt;
        name.dfu = vw.dfu;
        name.debridement = state;
        name.angle = angle;
        name.zoom = zoom;
        for (Camera camera : {Camera::kDepth, Camera::kThermal}) {
          if ((camera == Camera::kDepth && !has_depth) ||
              (camera == Camera::kThermal && !has_thermal))
            continue;
          const bool is_depth = camera == Camera::kDepth;
          name.camera = camera;
          BoxRow row;
          row.file = to_name(name);
          row.name = name;
          row.row = r;
          row.dfu = name.dfu;
          // The study's own spelling: the depth file pads patient and visit, the thermal one not.
          row.text = {row.file,
                      is_depth ? fmt::format("{:0>3}", name.patient) : name.patient,
                      is_depth ? fmt::format("{:02}", name.appt) : std::to_string(name.appt),
                      std::to_string(name.dfu),
                      std::string(1, to_char(state)),
                      std::string(1, to_char(camera)),
                      std::string{to_char(angle), to_char(zoom)},
                      std::to_string(name.dfu)};
          const Box& full = is_depth ? depth_box : thermal_box;
          const int fw = is_depth ? kDepthFrameWidth : kThermalFrameWidth;
          const int fh = is_depth ? kDepthFrameHeight : kThermalFrameHeight;
          row.box = scale_box(full, settings.image_scale, frame_side(fw, settings.image_scale),
                              frame_side(fh, settings.image_scale));
          (is_depth ? depth : thermal)->push_back(std::move(row));
        }
      }
    }
  }
}

// ---- Real boxes (--from) -----------------------------------------------------------------------

std::vector<BoxRow> rescale_box_file(const std::string& path, Camera camera, double scale,
                                     const std::map<VisitKey, int>& lookup) {
  const CsvTable table = read_csv(path);
  constexpr std::array<const char*, 12> kColumns = {
      "Filename",  "Patient#", "Appt#", "DFU#",
      "DebriStat", "Camera",   "Angle", "Bounding Box Number",
      "Xmin",      "Ymin",     "Xmax",  "Ymax"};
  std::array<int, 12> col{};
  for (size_t k = 0; k < kColumns.size(); ++k) {
    col[k] = table.column_index(kColumns[k]);
    if (col[k] < 0) throw InputError(fmt::format("{}:1: missing column '{}'", path, kColumns[k]));
  }
  const bool depth = camera == Camera::kDepth;
  const int fw = frame_side(depth ? kDepthFrameWidth : kThermalFrameWidth, scale);
  const int fh = frame_side(depth ? kDepthFrameHeight : kThermalFrameHeight, scale);
  std::vector<BoxRow> out;
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const auto& row = table.rows[i];
    const std::string where = fmt::format("{}:{}", path, table.line_of_row[i]);
    BoxRow b;
    for (size_t k = 0; k < b.text.size(); ++k) b.text[k] = row[col[k]];
    b.file = trim(row[col[0]]);
    try {
      b.name = parse_image_name(b.file);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", where, e.what()));
    }
    if (b.name.camera != camera)
      throw InputError(
          fmt::format("{}: {} is not a {} camera frame", where, b.file, to_char(camera)));
    std::array<double, 4> v{};
    for (int k = 0; k < 4; ++k) {
      const std::string t = trim(row[col[8 + k]]);
      char* end = nullptr;
      v[k] = std::strtod(t.c_str(), &end);
      if (t.empty() || end != t.c_str() + t.size() || !(v[k] >= 0 && v[k] < 1e7))
        throw InputError(fmt::format("{}: column '{}': '{}' is not a pixel coordinate", where,
                                     kColumns[8 + k], t));
    }
    const Box full{static_cast<int>(std::lround(v[0])), static_cast<int>(std::lround(v[1])),
                   static_cast<int>(std::lround(v[2])), static_cast<int>(std::lround(v[3]))};
    if (full.empty())
      throw InputError(
          fmt::format("{}: box ({}, {}, {}, {}) is empty", where, v[0], v[1], v[2], v[3]));
    b.box = scale_box(full, scale, fw, fh);
    char* end = nullptr;
    const std::string dfu_text = trim(row[col[3]]);
    const long dfu = std::strtol(dfu_text.c_str(), &end, 10);
    if (dfu_text.empty() || end != dfu_text.c_str() + dfu_text.size())
      throw InputError(fmt::format("{}: column 'DFU#': '{}' is not a number", where, dfu_text));
    const auto it = lookup.find(VisitKey{b.name.patient, b.name.appt, dfu});
    b.dfu = dfu;
    b.row = it == lookup.end() ? -1 : it->second;
    out.push_back(std::move(b));
  }
  return out;
}

// ---- Frames ------------------------------------------------------------------------------------

struct Temperatures {
  std::array<double, 3> c{};  // wound centre, peri-ulcer, intact skin
};

// The row's temperatures: its columns where present; blanks drawn as synth draws them, with the
// phase shift scaled by `signal` (the physiology the columns would have recorded).
Temperatures temperatures(const Dataset& data, int row, const std::array<int, 3>& columns,
                          const SynthSettings& settings) {
  const VisitWound& vw = data.rows[row];
  const std::string patient = normalise_patient(data.patients[vw.patient]);
  Rng patient_rng(mix_seed(settings.seed ^ kTemperatureStream, fnv1a64(patient)));
  const double baseline = patient_rng.normal(kSkinTempMean, kSkinTempPatientSd);
  Rng rng(mix_seed(settings.seed ^ kTemperatureStream,
                   fnv1a64(fmt::format("{}/{}/{}", patient, vw.appt, vw.dfu))));
  const int phase = vw.label;
  const double wound_shift = phase >= 0 ? settings.signal * kWoundTempShift[phase] : 0.0;
  const double peri_shift = phase >= 0 ? settings.signal * kPeriTempShift[phase] : 0.0;
  Temperatures drawn;
  drawn.c[2] = std::clamp(rng.normal(baseline, kSkinTempVisitSd), kMinTemp, kMaxTemp);
  const double wound_delta = rng.normal(kWoundTempOffset + wound_shift, kWoundTempNoise);
  const double peri_delta = rng.normal(kPeriTempOffset + peri_shift, kPeriTempNoise);
  Temperatures t;
  const auto value = [&](int k) {
    return columns[k] >= 0 ? data.numeric.at(row, columns[k]) : kMissing;
  };
  t.c[2] = is_missing(value(2)) ? drawn.c[2] : value(2);
  t.c[0] = is_missing(value(0)) ? std::clamp(t.c[2] + wound_delta, kMinTemp, kMaxTemp) : value(0);
  t.c[1] = is_missing(value(1)) ? std::clamp(t.c[2] + peri_delta, kMinTemp, kMaxTemp) : value(1);
  return t;
}

struct FrameJob {
  synth_internal::FrameSpec spec;
  std::vector<ImageModality> modalities;
};

std::vector<FrameJob> frame_jobs(const std::vector<BoxRow>& rows, Camera camera,
                                 const Dataset& data, const SynthSettings& settings) {
  std::array<int, 3> columns{};
  for (size_t k = 0; k < columns.size(); ++k) {
    columns[k] = -1;
    for (size_t f = 0; f < data.feature_names.size(); ++f)
      if (data.feature_names[f] == kTemperatureColumns[k]) columns[k] = static_cast<int>(f);
  }
  const bool depth = camera == Camera::kDepth;
  const int fw = frame_side(depth ? kDepthFrameWidth : kThermalFrameWidth, settings.image_scale);
  const int fh = frame_side(depth ? kDepthFrameHeight : kThermalFrameHeight, settings.image_scale);
  std::vector<ImageModality> modalities;
  if (depth)
    modalities = {ImageModality::kDepthRgb, ImageModality::kDepthMap};
  else if (settings.thermal_rgb)
    modalities = {ImageModality::kThermalMap, ImageModality::kThermalRgb};
  else
    modalities = {ImageModality::kThermalMap};

  std::map<std::string, size_t> by_file;
  std::vector<FrameJob> jobs;
  for (const BoxRow& r : rows) {
    auto [it, fresh] = by_file.try_emplace(r.file, jobs.size());
    if (fresh) {
      FrameJob job;
      job.spec.file_name = r.file;
      job.spec.name = r.name;
      job.spec.width = fw;
      job.spec.height = fh;
      job.spec.patient_seed = mix_seed(settings.seed ^ kPatientStream, fnv1a64(r.name.patient));
      job.modalities = modalities;
      jobs.push_back(std::move(job));
    }
    synth_internal::WoundSpec w;
    w.box = r.box;
    w.wound_seed = mix_seed(settings.seed ^ kWoundStream,
                            fnv1a64(fmt::format("{}/{}/{}", r.name.patient, r.name.appt, r.dfu)));
    if (r.row >= 0) {
      w.phase = data.rows[r.row].label;
      const Temperatures t = temperatures(data, r.row, columns, settings);
      w.wound_c = t.c[0];
      w.peri_c = t.c[1];
      w.intact_c = t.c[2];
    } else {  // a box of a visit-wound the metadata lacks: phase unknown, typical temperatures
      w.intact_c = kSkinTempMean;
      w.wound_c = kSkinTempMean + kWoundTempOffset;
      w.peri_c = kSkinTempMean + kPeriTempOffset;
    }
    jobs[it->second].spec.wounds.push_back(w);
  }
  return jobs;
}

void create_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(fmt::format("cannot create folder {}: {}", dir.string(), ec.message()));
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(fmt::format("{}: file not found", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

SynthSummary summarise(const Dataset& data) {
  SynthSummary s;
  s.patients = static_cast<int>(data.patients.size());
  s.rows = static_cast<int>(data.rows.size());
  for (const VisitWound& r : data.rows)
    if (r.label >= 0 && r.label < kNumClasses) ++s.class_counts[r.label];
  return s;
}

}  // namespace

StudySummary write_synthetic_study(const std::string& out_dir, const SynthSettings& settings) {
  settings.validate();
  const auto start = Clock::now();
  const bool from_real = !settings.from_dir.empty();
  if (!from_real && settings.write_images && settings.patients > kMaxImagePatients)
    throw InputError(fmt::format(
        "synth: images need at most {} patients (the file names have 3 digits for the patient), "
        "got {}; use --no-images for larger cohorts",
        kMaxImagePatients, settings.patients));
  const fs::path out(out_dir);
  Schema schema = Schema::dfu();
  const std::string source_metadata =
      from_real ? (fs::path(settings.from_dir) / schema.metadata_file).string() : "";
  schema.metadata_file = settings.metadata_file;

  StudySummary summary;
  if (from_real) {
    std::error_code ec;
    if (fs::exists(out) && fs::equivalent(out, settings.from_dir, ec))
      throw InputError(
          fmt::format("synth: --out {} is the --from folder; choose another", out_dir));
    const std::string bytes = read_file(source_metadata);
    create_folder(out);
    images_internal::write_file_atomic((out / settings.metadata_file).string(), bytes);
  } else {
    summary.cohort = write_synthetic_cohort(out_dir, settings);
  }
  if (!settings.write_images) {
    if (from_real)
      summary.cohort = summarise(load_dataset(out_dir, schema, /*require_labels=*/false));
    summary.seconds = seconds_since(start);
    return summary;
  }
  const Dataset data = load_dataset(out_dir, schema, /*require_labels=*/false);
  if (from_real) summary.cohort = summarise(data);

  std::vector<BoxRow> depth_rows;
  std::vector<BoxRow> thermal_rows;
  if (from_real) {
    const auto lookup = row_lookup(data);
    depth_rows = rescale_box_file((fs::path(settings.from_dir) / kDepthBoxFile).string(),
                                  Camera::kDepth, settings.image_scale, lookup);
    thermal_rows = rescale_box_file((fs::path(settings.from_dir) / kThermalBoxFile).string(),
                                    Camera::kThermal, settings.image_scale, lookup);
  } else {
    std::vector<std::vector<int>> rows_of(data.patients.size());
    for (size_t r = 0; r < data.rows.size(); ++r)
      rows_of[data.rows[r].patient].push_back(static_cast<int>(r));
    for (size_t p = 0; p < rows_of.size(); ++p)
      synthesise_patient_boxes(data, static_cast<int>(p), rows_of[p], settings, &depth_rows,
                               &thermal_rows);
  }

  // Every frame the box files name, drawn in parallel: each from its own seed.
  std::vector<FrameJob> jobs = frame_jobs(depth_rows, Camera::kDepth, data, settings);
  for (auto& job : frame_jobs(thermal_rows, Camera::kThermal, data, settings))
    jobs.push_back(std::move(job));
  for (ImageModality m : kImageModalities)
    if (m != ImageModality::kThermalRgb || settings.thermal_rgb) create_folder(out / folder_of(m));
  synth_internal::DrawSettings draw;
  draw.seed = settings.seed;
  draw.image_signal = settings.image_signal;
  const int n = static_cast<int>(jobs.size());
  std::vector<std::string> errors(jobs.size());
  const int threads = settings.threads > 0 ? settings.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int i = 0; i < n; ++i) {
    try {
      for (ImageModality m : jobs[i].modalities)
        write_png((out / folder_of(m) / jobs[i].spec.file_name).string(),
                  synth_internal::draw_frame(m, jobs[i].spec, draw));
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (const auto& e : errors)
    if (!e.empty()) throw InputError(e);
  for (const FrameJob& job : jobs)
    for (ImageModality m : job.modalities) ++summary.images[static_cast<int>(m)];

  // The box files last: a study whose box files exist has its frames.
  images_internal::write_file_atomic((out / kDepthBoxFile).string(), box_file_text(depth_rows));
  images_internal::write_file_atomic((out / kThermalBoxFile).string(), box_file_text(thermal_rows));
  summary.depth_boxes = static_cast<long>(depth_rows.size());
  summary.thermal_boxes = static_cast<long>(thermal_rows.size());
  summary.seconds = seconds_since(start);
  return summary;
}

}  // namespace woundphase
