// Synthetic image studies: layout, determinism, --from, and what the images carry about the phase.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "synth/frames.h"  // the drawing, internal to the synth stage
#include "test_paths.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Relative path -> bytes of every file under `dir`.
std::map<std::string, std::string> tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

SynthSettings small_study(int patients, double image_signal) {
  SynthSettings s;
  s.patients = patients;
  s.seed = 11;
  s.image_scale = 0.1;
  s.image_signal = image_signal;
  return s;
}

TEST(SynthImages, WritesTheStudyLayoutWithExactBoxHeaders) {
  const std::string dir = testing::scratch_dir();
  SynthSettings s = small_study(6, 0.5);
  s.thermal_rgb = true;
  const StudySummary summary = write_synthetic_study(dir, s);
  for (const char* f : {"DataMaster_Processed_V12_WithMissing.csv", "bounding_box_depth.csv",
                        "bounding_box_thermal.csv"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(dir) / f)) << f;
  const std::string depth = slurp(fs::path(dir) / kDepthBoxFile);
  EXPECT_EQ(depth.rfind(std::string(kBoxHeader) + "\r\n", 0), 0U);
  const auto lines = split_lines(depth);
  EXPECT_EQ(static_cast<long>(lines.size()) - 1, summary.depth_boxes);
  EXPECT_GT(summary.depth_boxes, 10);
  // Every named frame exists once per modality folder, at the scaled camera size.
  std::set<std::string> depth_files;
  for (size_t i = 1; i < lines.size(); ++i)
    depth_files.insert(lines[i].substr(0, lines[i].find(',')));
  EXPECT_EQ(summary.images[static_cast<int>(ImageModality::kDepthRgb)],
            static_cast<long>(depth_files.size()));
  for (const auto& f : depth_files) {
    const ImageU8 rgb = read_image((fs::path(dir) / "Depth_RGB" / f).string());
    EXPECT_EQ(rgb.width, 128);
    EXPECT_EQ(rgb.height, 72);
    EXPECT_TRUE(fs::is_regular_file(fs::path(dir) / "Depth_Map_IMG" / f)) << f;
  }
  const auto thermal_lines = split_lines(slurp(fs::path(dir) / kThermalBoxFile));
  const std::string t = thermal_lines.at(1).substr(0, thermal_lines[1].find(','));
  const ImageU8 thermal = read_image((fs::path(dir) / "Thermal_Map_IMG" / t).string());
  EXPECT_EQ(thermal.width, 108);
  EXPECT_EQ(thermal.height, 144);
  EXPECT_TRUE(fs::is_regular_file(fs::path(dir) / "Thermal_RGB" / t));
  // The sensor border: about 47% of the frame is black.
  long black = 0;
  for (int y = 0; y < thermal.height; ++y)
    for (int x = 0; x < thermal.width; ++x)
      black += thermal.at(x, y, 0) == 0 && thermal.at(x, y, 1) == 0 && thermal.at(x, y, 2) == 0;
  const double share = static_cast<double>(black) / (thermal.width * thermal.height);
  EXPECT_GT(share, 0.35);
  EXPECT_LT(share, 0.50);

  // The index matches every box: nothing unknown, missing or bad.
  const Dataset data = load_dataset(dir, Schema::dfu(), true);
  const ImageIndex index = build_image_index(data, dir);
  EXPECT_EQ(index.report.unknown_visit_boxes, 0);
  EXPECT_EQ(index.report.bad_rows, 0);
  EXPECT_EQ(index.report.missing_files, 0);
  EXPECT_EQ(index.available().size(), 4U);
}

TEST(SynthImages, SameSeedSameBytesAtAnyThreadCount) {
  const std::string a = testing::scratch_dir() + "/a";
  const std::string b = testing::scratch_dir() + "/b";
  const std::string c = testing::scratch_dir() + "/c";
  SynthSettings s = small_study(8, 0.5);
  s.threads = 1;
  write_synthetic_study(a, s);
  s.threads = 2;
  write_synthetic_study(b, s);
  const auto ta = tree(a);
  const auto tb = tree(b);
  ASSERT_GT(ta.size(), 20U);
  EXPECT_TRUE(ta == tb);
  s.seed = 12;
  write_synthetic_study(c, s);
  const auto tc = tree(c);
  size_t differing = 0;
  for (const auto& [path, bytes] : tc)
    if (ta.count(path) && ta.at(path) != bytes) ++differing;
  EXPECT_GT(differing, 0U);
}

TEST(SynthImages, NoImagesWritesOnlyTheMetadataAndBigCohortsNeedIt) {
  const std::string dir = testing::scratch_dir();
  SynthSettings s = small_study(5, 0.5);
  s.write_images = false;
  write_synthetic_study(dir, s);
  EXPECT_EQ(tree(dir).size(), 1U);
  s.write_images = true;
  s.patients = 1000;
  EXPECT_THROW(write_synthetic_study(dir, s), InputError);
  s = small_study(5, 0.5);
  s.image_scale = 2;
  EXPECT_THROW(write_synthetic_study(dir, s), InputError);
  s = small_study(5, 0.5);
  s.image_signal = -1;
  EXPECT_THROW(write_synthetic_study(dir, s), InputError);
}

// The real study's structure: file names, counts and box rows (all columns but the coordinates).
TEST(SynthImages, FromReproducesTheRealBoxFilesStructure) {
  const std::string real = testing::real_data_dir();
  if (real.empty() || !fs::exists(fs::path(real) / kDepthBoxFile))
    GTEST_SKIP() << "../shared/data/dfu not present";
  const std::string dir = testing::scratch_dir();
  SynthSettings s;
  s.from_dir = real;
  s.image_scale = 0.05;  // keeps the test fast; the structure is the same at every scale
  const StudySummary summary = write_synthetic_study(dir, s);
  EXPECT_EQ(slurp(fs::path(dir) / Schema::dfu().metadata_file),
            slurp(fs::path(real) / Schema::dfu().metadata_file));
  for (const auto& [box_file, folders] : {std::pair<const char*, std::vector<const char*>>{
                                              kDepthBoxFile, {"Depth_RGB", "Depth_Map_IMG"}},
                                          {kThermalBoxFile, {"Thermal_Map_IMG"}}}) {
    const auto want = split_lines(slurp(fs::path(real) / box_file));
    const auto got = split_lines(slurp(fs::path(dir) / box_file));
    ASSERT_EQ(got.size(), want.size()) << box_file;
    EXPECT_EQ(got[0], want[0]);
    std::set<std::string> names;
    for (size_t i = 1; i < want.size(); ++i) {
      // Same fields up to "Bounding Box Number"; coordinates rescaled.
      const auto prefix = [](const std::string& line) {
        size_t pos = 0;
        for (int k = 0; k < 8; ++k) pos = line.find(',', pos) + 1;
        return line.substr(0, pos);
      };
      EXPECT_EQ(prefix(got[i]), prefix(want[i])) << box_file << ":" << i + 1;
      names.insert(want[i].substr(0, want[i].find(',')));
    }
    for (const char* folder : folders) {
      std::set<std::string> files;
      for (const auto& e : fs::directory_iterator(fs::path(dir) / folder))
        files.insert(e.path().filename().string());
      EXPECT_EQ(files, names) << folder;
    }
  }
  EXPECT_EQ(summary.images[static_cast<int>(ImageModality::kThermalMap)], 2252);
  EXPECT_FALSE(fs::exists(fs::path(dir) / "Thermal_RGB"));
  // The index sees the real study's matching: boxes of visit-wounds outside the metadata, no
  // missing frames.
  const Dataset data = load_dataset(dir, Schema::dfu(), false);
  const ImageIndex index = build_image_index(data, dir);
  EXPECT_EQ(index.report.missing_files, 0);
  EXPECT_EQ(index.report.bad_rows, 0);
  EXPECT_GT(index.report.unknown_visit_boxes, 0);
  EXPECT_EQ(static_cast<long>(index.rows_with(ImageModality::kDepthRgb).size()) +
                index.report.rows_without[static_cast<int>(ImageModality::kDepthRgb)],
            static_cast<long>(data.rows.size()));
}

// Mean of each visit-wound's crops (exact frames only), per channel, grouped by class.
struct ClassStats {
  std::array<std::vector<double>, kNumClasses> values;
  double mean(int c) const {
    double m = 0;
    for (double x : values[c]) m += x;
    return m / values[c].size();
  }
  double t_statistic(int a, int b) const {  // Welch's t of class a vs class b
    auto mean_var = [](const std::vector<double>& v) {
      double m = 0;
      for (double x : v) m += x;
      m /= v.size();
      double s = 0;
      for (double x : v) s += (x - m) * (x - m);
      return std::pair<double, double>(m, s / (v.size() - 1));
    };
    const auto [ma, va] = mean_var(values[a]);
    const auto [mb, vb] = mean_var(values[b]);
    return (ma - mb) / std::sqrt(va / values[a].size() + vb / values[b].size());
  }
};

// `centre_only`: the central quarter of the square crop (the wound bed) instead of the whole crop.
ClassStats crop_means(const std::string& dir, ImageModality m, int channel,
                      bool centre_only = false) {
  const Dataset data = load_dataset(dir, Schema::dfu(), true);
  const ImageIndex index = build_image_index(data, dir);
  PreprocessSettings p;
  p.image_size = 32;
  ImageCache cache(dir, p);
  ClassStats stats;
  for (size_t r = 0; r < data.rows.size(); ++r) {
    double sum = 0;
    long n = 0;
    for (const ImageRef& ref : index.refs(r, m)) {
      if (ref.fallback != Fallback::kExact) continue;
      const ImageU8* crop = cache.get(ref, m);
      if (crop == nullptr) continue;
      double s = 0;
      long k = 0;  // the content, not the zero padding
      const int lo = centre_only ? crop->width * 3 / 8 : 0;
      const int hi = centre_only ? crop->width * 5 / 8 : crop->width;
      for (int y = lo; y < hi; ++y)
        for (int x = lo; x < hi; ++x) {
          bool pad = true;
          for (int c = 0; c < crop->channels; ++c) pad = pad && crop->at(x, y, c) == 0;
          if (pad) continue;
          s += crop->at(x, y, channel);
          ++k;
        }
      if (k == 0) continue;
      sum += s / k;
      ++n;
    }
    if (n > 0) stats.values[data.rows[r].label].push_back(sum / n);
  }
  return stats;
}

// One wound drawn as each phase: at image-signal 0 the frames are identical, byte for byte (the
// thermal map given the same temperatures), so nothing in them depends on the label.
TEST(SynthImages, ImageSignalZeroDrawsEveryPhaseAlike) {
  synth_internal::FrameSpec f;
  f.file_name = "7_P004021ADMW.png";
  f.name = parse_image_name(f.file_name);
  f.width = 128;
  f.height = 72;
  f.patient_seed = 3;
  synth_internal::WoundSpec w;
  w.box = {50, 30, 62, 41};
  w.wound_seed = 99;
  w.wound_c = 31;
  w.peri_c = 31.5;
  w.intact_c = 30.5;
  f.wounds = {w};
  synth_internal::DrawSettings zero;
  zero.seed = 5;
  zero.image_signal = 0;
  synth_internal::DrawSettings one = zero;
  one.image_signal = 1;
  for (ImageModality m : kImageModalities) {
    SCOPED_TRACE(to_string(m));
    synth_internal::FrameSpec frame = f;
    if (camera_of(m) == Camera::kThermal) {
      frame.file_name = "7_P004021ATMW.png";
      frame.name = parse_image_name(frame.file_name);
      frame.width = 108;
      frame.height = 144;
      frame.wounds[0].box = {40, 60, 52, 76};
    }
    std::array<ImageU8, kNumClasses> at_zero;
    std::array<ImageU8, kNumClasses> at_one;
    for (int phase = 0; phase < kNumClasses; ++phase) {
      frame.wounds[0].phase = phase;
      at_zero[phase] = synth_internal::draw_frame(m, frame, zero);
      at_one[phase] = synth_internal::draw_frame(m, frame, one);
    }
    frame.wounds[0].phase = -1;  // unknown phase: the neutral look
    EXPECT_EQ(synth_internal::draw_frame(m, frame, zero), at_zero[0]);
    EXPECT_EQ(at_zero[0], at_zero[1]);
    EXPECT_EQ(at_zero[0], at_zero[2]);
    EXPECT_NE(at_one[0], at_one[2]);
    EXPECT_NE(at_one[0], at_zero[0]);
  }
}

// Studies of 150 patients at image-signal 0 and 1 (metadata signal 1), written once per process at
// a small scale (the crops' statistics do not need more pixels).
const std::string& phase_study(bool image_signal) {
  static std::map<bool, std::string> dirs;
  auto it = dirs.find(image_signal);
  if (it != dirs.end()) return it->second;
  // In the first asking test's scratch folder: test processes running side by side never share it.
  const std::string dir =
      testing::scratch_dir() + (image_signal ? "/phase_study_1" : "/phase_study_0");
  SynthSettings s = small_study(150, image_signal ? 1.0 : 0.0);
  s.image_scale = 0.05;
  write_synthetic_study(dir, s);
  return dirs.emplace(image_signal, dir).first->second;
}

TEST(SynthImages, ThermalMapsAreWarmerForInflammatoryThanRemodelingWounds) {
  // Whole crops: skin and background dilute the wound, and patients' skin temperatures vary.
  const ClassStats crops = crop_means(phase_study(true), ImageModality::kThermalMap, 0);
  ASSERT_GT(crops.values[2].size(), 20U);
  EXPECT_GT(crops.mean(0), crops.mean(2) + 5);  // decoded levels: 12.75 per °C
  // The wound bed itself.
  const ClassStats beds = crop_means(phase_study(true), ImageModality::kThermalMap, 0, true);
  EXPECT_GT(beds.mean(0), beds.mean(2) + 12);
  EXPECT_GT(beds.t_statistic(0, 2), 2.5);
}

TEST(SynthImages, ImageSignalZeroLeavesNonThermalWoundsIndependentOfTheLabel) {
  for (const auto& [m, channel] : {std::pair<ImageModality, int>{ImageModality::kDepthRgb, 1},
                                   {ImageModality::kDepthMap, 0}}) {
    SCOPED_TRACE(to_string(m));
    const ClassStats none = crop_means(phase_study(false), m, channel);
    const ClassStats strong = crop_means(phase_study(true), m, channel);
    ASSERT_GT(none.values[2].size(), 20U);
    // No class differs beyond noise at image-signal 0; at 1 the phases look different.
    for (const auto& [a, b] : {std::pair<int, int>{0, 1}, {0, 2}, {1, 2}})
      EXPECT_LT(std::abs(none.t_statistic(a, b)), 3.5) << a << " vs " << b;
    EXPECT_GT(std::abs(strong.t_statistic(0, 2)), 5.0);
  }
}

}  // namespace
}  // namespace woundphase
