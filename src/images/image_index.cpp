// Matching the study's frames to visit-wounds: box files -> frames per visit-wound and camera ->
// views paired across cameras by the naming code, with the predecessor's fallbacks.
#include <fmt/format.h>

#include <algorithm>  // for sort, min
#include <cmath>      // for lround, isfinite
#include <cstdlib>    // for strtod
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <system_error>  // for error_code
#include <tuple>
#include <unordered_map>
#include <vector>

#include "images/internal.h"  // for file_kind
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxExamples = 5;  // per kind of problem in UnmatchedReport::examples

// Columns a box file must have; DebriStat, Camera and Angle are checked against the name when
// present.
constexpr std::array<const char*, 8> kRequiredColumns = {"Filename", "Patient#", "Appt#", "DFU#",
                                                         "Xmin",     "Ymin",     "Xmax",  "Ymax"};

using VisitKey = std::tuple<std::string, long, long>;  // patient, appointment, wound

bool parse_long(const std::string& text, long* out) {
  const std::string t = trim(text);
  if (t.empty() || t.size() > 18) return false;
  size_t i = t[0] == '-' ? 1 : 0;
  if (i == t.size()) return false;
  for (size_t k = i; k < t.size(); ++k)
    if (t[k] < '0' || t[k] > '9') return false;
  *out = std::stol(t);
  return true;
}

// A pixel coordinate: an integer, or a decimal rounded to the nearest pixel.
bool parse_coordinate(const std::string& text, int* out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v) || v < 0 || v > 1e7) return false;
  *out = static_cast<int>(std::lround(v));
  return true;
}

// One frame of one camera showing one visit-wound.
struct Frame {
  std::string file_name;
  ImageName name;
  Box box;
  long line = 0;
};

// The view a frame belongs to: its code with the camera letter set to D.
struct ViewKey {
  long index = 0;
  std::string code;
  bool operator<(const ViewKey& o) const {
    return std::tie(index, code) < std::tie(o.index, o.code);
  }
  bool operator==(const ViewKey& o) const { return index == o.index && code == o.code; }
};

ViewKey view_key(const ImageName& name) {
  ImageName depth = name;
  depth.camera = Camera::kDepth;
  return {name.index, to_name(depth)};
}

void add_example(UnmatchedReport* report, std::map<std::string, size_t>* shown,
                 const std::string& kind, const std::string& message) {
  if ((*shown)[kind]++ < kMaxExamples) report->examples.push_back(message);
}

class IndexBuilder {
 public:
  IndexBuilder(const Dataset& data, const std::string& dir, const ImageIndexSettings& settings)
      : data_(data), dir_(dir), settings_(settings) {
    for (size_t r = 0; r < data.rows.size(); ++r) {
      const VisitWound& row = data.rows[r];
      rows_.emplace(VisitKey{normalise_patient(data.patients[row.patient]), row.appt, row.dfu},
                    static_cast<int>(r));
    }
    frames_.resize(data.rows.size());
  }

  ImageIndex build() {
    ImageIndex index;
    index.dir = dir_;
    index.rows.resize(data_.rows.size());
    read_box_file(settings_.depth_box_file, Camera::kDepth);
    read_box_file(settings_.thermal_box_file, Camera::kThermal);
    list_folders();
    for (size_t r = 0; r < data_.rows.size(); ++r) match_row(r, &index.rows[r]);
    for (int m = 0; m < kNumImageModalities; ++m)
      for (const RowImages& row : index.rows) {
        if (row.refs[m].empty()) ++report_.rows_without[m];
        for (const ImageRef& ref : row.refs[m])
          ++report_.refs_by_fallback[m][static_cast<int>(ref.fallback)];
      }
    std::sort(report_.skipped.begin(), report_.skipped.end(),
              [](const SkippedImage& a, const SkippedImage& b) { return a.file < b.file; });
    index.report = std::move(report_);
    return index;
  }

 private:
  void read_box_file(const std::string& file, Camera camera) {
    const fs::path path = fs::path(dir_) / file;
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (status.type() == fs::file_type::not_found) {
      add_example(&report_, &shown_, "no box file", fmt::format("{}: not present", path.string()));
      return;
    }
    if (status.type() == fs::file_type::none) {  // a symlink loop, ...: its camera has no frames
      add_example(&report_, &shown_, "no box file",
                  fmt::format("{}: cannot read the box file ({})", path.string(), ec.message()));
      return;
    }
    box_file_of_[static_cast<int>(camera)] = path.string();
    const CsvTable table = read_csv(path.string());
    std::array<int, kRequiredColumns.size()> col{};
    for (size_t k = 0; k < kRequiredColumns.size(); ++k) {
      col[k] = table.column_index(kRequiredColumns[k]);
      if (col[k] < 0)
        throw InputError(
            fmt::format("{}:1: missing column '{}'", path.string(), kRequiredColumns[k]));
    }
    const int debri_col = table.column_index("DebriStat");
    const int camera_col = table.column_index("Camera");
    const int angle_col = table.column_index("Angle");
    const char camera_letter = to_char(camera);

    for (size_t i = 0; i < table.rows.size(); ++i) {
      const auto& row = table.rows[i];
      const long line = table.line_of_row[i];
      ++report_.box_rows;
      auto bad = [&](const std::string& why) {
        ++report_.bad_rows;
        add_example(&report_, &shown_, "bad row",
                    fmt::format("{}:{}: {} (row skipped)", path.string(), line, why));
      };
      ImageName name;
      try {
        name = parse_image_name(trim(row[col[0]]));
      } catch (const InputError& e) {
        bad(e.what());
        continue;
      }
      // A bad row whose name parses still tells which visit-wound it meant to name: its DFU#
      // column's once that parses (one frame can show several wounds), else the name's.
      long wound = name.dfu;
      auto bad_named = [&](const std::string& why) {
        const auto it = rows_.find(VisitKey{name.patient, name.appt, wound});
        if (it != rows_.end()) bad_rows_of_[static_cast<int>(camera)].insert(it->second);
        bad(why);
      };
      if (name.camera != camera) {
        bad_named(fmt::format("{} is not a {} camera frame", row[col[0]], camera_letter));
        continue;
      }
      if (normalise_patient(row[col[1]]) != name.patient) {
        bad_named(fmt::format("Patient# '{}' differs from the file name's", row[col[1]]));
        continue;
      }
      long appt = 0;
      long dfu = 0;
      if (!parse_long(row[col[2]], &appt) || appt != name.appt) {
        bad_named(fmt::format("Appt# '{}' differs from the file name's", row[col[2]]));
        continue;
      }
      if (!parse_long(row[col[3]], &dfu)) {
        bad_named(fmt::format("DFU# '{}' is not a number", row[col[3]]));
        continue;
      }
      wound = dfu;
      const std::string debri(1, to_char(name.debridement));
      const std::string angle{to_char(name.angle), to_char(name.zoom)};
      if ((debri_col >= 0 && trim(row[debri_col]) != debri) ||
          (camera_col >= 0 && trim(row[camera_col]) != std::string(1, camera_letter)) ||
          (angle_col >= 0 && trim(row[angle_col]) != angle)) {
        bad_named("DebriStat, Camera or Angle differs from the file name's code");
        continue;
      }
      Box box;
      if (!parse_coordinate(row[col[4]], &box.xmin) || !parse_coordinate(row[col[5]], &box.ymin) ||
          !parse_coordinate(row[col[6]], &box.xmax) || !parse_coordinate(row[col[7]], &box.ymax) ||
          box.empty()) {
        bad_named(
            fmt::format("box ({}, {}, {}, {}) is not a non-empty box with non-negative corners",
                        row[col[4]], row[col[5]], row[col[6]], row[col[7]]));
        continue;
      }
      const auto it = rows_.find(VisitKey{name.patient, name.appt, dfu});
      if (it == rows_.end()) {
        ++report_.unknown_visit_boxes;
        add_example(&report_, &shown_, "unknown visit",
                    fmt::format("{}:{}: {} names patient {}, visit {}, wound {}, which the "
                                "metadata does not have",
                                path.string(), line, row[col[0]], name.patient, name.appt, dfu));
        continue;
      }
      auto& frames = frames_[it->second][static_cast<int>(camera)];
      const std::string file_name = trim(row[col[0]]);
      auto found = frames.find(file_name);
      if (found == frames.end()) {
        frames.emplace(file_name, Frame{file_name, name, box, line});
      } else {  // several boxes of one wound in one frame: their union
        Box& u = found->second.box;
        u = {std::min(u.xmin, box.xmin), std::min(u.ymin, box.ymin), std::max(u.xmax, box.xmax),
             std::max(u.ymax, box.ymax)};
      }
    }
  }

  void list_folders() {
    for (ImageModality m : kImageModalities) {
      const int k = static_cast<int>(m);
      const fs::path folder = fs::path(dir_) / folder_of(m);
      std::error_code ec;
      const fs::file_status status = fs::status(folder, ec);
      report_.folder_present[k] = fs::is_directory(status);
      if (status.type() == fs::file_type::none)  // a symlink loop, ...: the modality is absent
        add_example(&report_, &shown_, "unreadable folder",
                    fmt::format("{}: cannot read the folder ({}); {} has no frames",
                                folder.string(), ec.message(), to_string(m)));
      if (!report_.folder_present[k] || !settings_.check_files) continue;
      for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        // Following symlinks: a link to a frame is a frame, a link loop or to a device is not.
        std::error_code type_ec;
        files_[k].emplace(it->path().filename().string(), it->status(type_ec).type());
      }
      if (ec)
        throw InputError(
            fmt::format("{}: cannot list the folder ({})", folder.string(), ec.message()));
    }
  }

  // The frames of modality m for a row, in (image number, name) order; missing files handled.
  std::vector<const Frame*> candidates(size_t row, ImageModality m) {
    const int k = static_cast<int>(m);
    std::vector<const Frame*> out;
    if (!report_.folder_present[k]) return out;
    for (const auto& [file, frame] : frames_[row][static_cast<int>(camera_of(m))]) {
      const auto listed = files_[k].find(file);
      const bool usable = listed != files_[k].end() && listed->second == fs::file_type::regular;
      if (settings_.check_files && !usable) {
        const std::string relative = (fs::path(folder_of(m)) / file).generic_string();
        const std::string what =
            listed == files_[k].end()
                ? std::string("missing")
                : std::string(images_internal::file_kind(listed->second)) + ", not an image file";
        const fs::path box_file = box_file_of_[static_cast<int>(camera_of(m))];
        // skipped_images.csv names the box file as the study does; the log by its path.
        const std::string reason = fmt::format("image file named by {}:{} is {}",
                                               box_file.filename().string(), frame.line, what);
        const std::string message =
            fmt::format("{}: image file named by {}:{} is {}", (fs::path(dir_) / relative).string(),
                        box_file.string(), frame.line, what);
        if (settings_.on_missing_image == MissingImage::kError) throw InputError(message);
        if (reported_missing_.insert(relative).second) {
          ++report_.missing_files;
          report_.skipped.push_back({relative, m, reason});
          add_example(&report_, &shown_, "missing file", message + " (skipped)");
        }
        continue;
      }
      out.push_back(&frame);
    }
    std::sort(out.begin(), out.end(), [](const Frame* a, const Frame* b) {
      return std::tie(a->name.index, a->file_name) < std::tie(b->name.index, b->file_name);
    });
    return out;
  }

  // Why row r has no frame of m, when it has none (and the folder is there).
  void count_reason(size_t r, ImageModality m, bool no_frame) {
    const int k = static_cast<int>(m);
    if (!no_frame || !report_.folder_present[k]) return;
    const int camera = static_cast<int>(camera_of(m));
    if (!frames_[r][camera].empty())
      ++report_.rows_frames_missing[k];
    else if (bad_rows_of_[camera].count(static_cast<int>(r)) > 0)
      ++report_.rows_bad_boxes_only[k];
    else
      ++report_.rows_no_box[k];
  }

  void match_row(size_t r, RowImages* out) {
    std::array<std::vector<const Frame*>, kNumImageModalities> frames;
    std::set<ViewKey> keys;
    std::map<ViewKey, ImageName> view_names;
    for (ImageModality m : kImageModalities) {
      frames[static_cast<int>(m)] = candidates(r, m);
      count_reason(r, m, frames[static_cast<int>(m)].empty());
      for (const Frame* f : frames[static_cast<int>(m)]) {
        const ViewKey key = view_key(f->name);
        if (keys.insert(key).second) {
          ImageName n = f->name;
          n.camera = Camera::kDepth;
          view_names[key] = n;
        }
      }
    }
    const std::vector<ViewKey> views(keys.begin(), keys.end());
    for (const ViewKey& key : views) out->views.push_back(view_names[key]);
    for (ImageModality m : kImageModalities) {
      const auto& list = frames[static_cast<int>(m)];
      if (list.empty()) continue;
      for (size_t v = 0; v < views.size(); ++v) {
        const ImageName& want = out->views[v];
        const Frame* best = nullptr;
        Fallback best_level = Fallback::kOtherDebridement;
        bool best_angle_differs = true;
        for (const Frame* f : list) {  // the first of the lowest (level, angle differs) wins
          if (view_key(f->name) == views[v]) {
            best = f;
            best_level = Fallback::kExact;
            break;
          }
          const Fallback level = f->name.debridement != want.debridement
                                     ? Fallback::kOtherDebridement
                                 : f->name.zoom != want.zoom ? Fallback::kOtherZoom
                                                             : Fallback::kOtherAngle;
          const bool angle_differs = f->name.angle != want.angle;
          if (best == nullptr ||
              std::tie(level, angle_differs) < std::tie(best_level, best_angle_differs)) {
            best = f;
            best_level = level;
            best_angle_differs = angle_differs;
          }
        }
        ImageRef ref;
        ref.file = (fs::path(folder_of(m)) / best->file_name).generic_string();
        ref.name = best->name;
        ref.box = best->box;
        ref.line = best->line;
        ref.view = static_cast<int>(v);
        ref.fallback = best_level;
        out->refs[static_cast<int>(m)].push_back(std::move(ref));
      }
    }
  }

  const Dataset& data_;
  const std::string dir_;
  const ImageIndexSettings settings_;
  std::map<VisitKey, int> rows_;
  // [row][camera]: file name -> frame.
  std::vector<std::array<std::map<std::string, Frame>, 2>> frames_;
  std::array<std::string, 2> box_file_of_;
  // Per modality: the folder's entries and their types (symlinks followed; none: unreadable).
  std::array<std::unordered_map<std::string, fs::file_type>, kNumImageModalities> files_;
  std::set<std::string> reported_missing_;
  std::array<std::set<int>, 2> bad_rows_of_;  // [camera]: rows named by a bad box row
  UnmatchedReport report_;
  std::map<std::string, size_t> shown_;
};

}  // namespace

MissingImage parse_missing_image(const std::string& text) {
  if (text == "error") return MissingImage::kError;
  if (text == "skip") return MissingImage::kSkip;
  throw InputError("on_missing_image: unknown value '" + text + "' (choose error or skip)");
}

const char* to_string(MissingImage m) { return m == MissingImage::kError ? "error" : "skip"; }

const char* to_string(Fallback f) {
  constexpr std::array<const char*, kNumFallbacks> kNames = {"exact", "other_angle", "other_zoom",
                                                             "other_debridement"};
  return kNames[static_cast<int>(f)];
}

std::string UnmatchedReport::without_reasons(int k) const {
  std::vector<std::string> parts;
  if (rows_no_box[k] > 0) parts.push_back(fmt::format("{} named by no box row", rows_no_box[k]));
  if (rows_bad_boxes_only[k] > 0)
    parts.push_back(fmt::format("{} named only by unusable box rows", rows_bad_boxes_only[k]));
  if (rows_frames_missing[k] > 0)
    parts.push_back(fmt::format("{} whose named frames are all missing from the folder",
                                rows_frames_missing[k]));
  if (parts.empty()) return "";
  return fmt::format(" ({})", fmt::join(parts, ", "));
}

std::string UnmatchedReport::summary() const {
  std::string out = fmt::format(
      "images: {} box rows; {} name visit-wounds not in the metadata; {} bad rows skipped; {} "
      "frames missing from their folders\n",
      box_rows, unknown_visit_boxes, bad_rows, missing_files);
  for (ImageModality m : kImageModalities) {
    const int k = static_cast<int>(m);
    if (!folder_present[k]) {
      out += fmt::format("  {}: {}/ not present\n", to_string(m), folder_of(m));
      continue;
    }
    const auto& f = refs_by_fallback[k];
    out += fmt::format(
        "  {}: {} visit-wounds without frames{}; views: {} exact, {} other angle, {} "
        "other zoom, {} other debridement\n",
        to_string(m), rows_without[k], without_reasons(k), f[0], f[1], f[2], f[3]);
  }
  for (const auto& e : examples) out += "  " + e + "\n";
  return out;
}

std::vector<ImageModality> ImageIndex::available() const {
  std::vector<ImageModality> out;
  for (ImageModality m : kImageModalities)
    for (const RowImages& row : rows)
      if (!row.refs[static_cast<int>(m)].empty()) {
        out.push_back(m);
        break;
      }
  return out;
}

std::vector<int> ImageIndex::rows_with(ImageModality m) const {
  std::vector<int> out;
  for (size_t r = 0; r < rows.size(); ++r)
    if (!rows[r].refs[static_cast<int>(m)].empty()) out.push_back(static_cast<int>(r));
  return out;
}

ImageIndex build_image_index(const Dataset& data, const std::string& dir,
                             const ImageIndexSettings& settings) {
  return IndexBuilder(data, dir, settings).build();
}

}  // namespace woundphase
