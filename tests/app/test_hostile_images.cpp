// Hostile image input (a corpus of hostile frames: bombs, huge files, pipes, devices, link loops,
// foreign formats and odd depths; bad boxes, unknown patients, empty and unreadable folders) and a
// kill during image training: each gives a clear error or a documented skip, named.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>  // for mkfifo
#include <unistd.h>    // for truncate

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>  // for imencode, imread (frames in other formats and depths)
#include <opencv2/imgproc.hpp>    // for cvtColor
#include <sstream>

#include "fixtures/vision_tool.h"
#include "test_paths.h"
#include "woundphase/dataset.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

std::string make_study(const std::string& dir) {
  const auto r = run_cli("synth --out " + dir + " --patients 12 --seed 2 --image-scale 0.05");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

std::vector<std::string> thermal_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "Thermal_Map_IMG"))
    out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string thermal_search(const std::string& data, const std::string& out,
                           const std::string& extra = "") {
  return "search --data " + data +
         " --modalities thermal_map --cv-folds 2 --image-size 32 --epochs 2 --out " + out + " " +
         extra;
}

TEST(HostileImages, TruncatedAndEmptyPngsAreSkippedAndCountedOrNamedAsErrors) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  const auto files = thermal_files(study);
  const std::string truncated = slurp(files[0]).substr(0, 100);
  std::ofstream(files[0], std::ios::binary | std::ios::trunc) << truncated;
  { std::ofstream empty(files[1], std::ios::binary | std::ios::trunc); }  // zero bytes
  auto r = run_cli(thermal_search(study, base + "/skip"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(2 files skipped)"), std::string::npos) << r.output;
  r = run_cli(thermal_search(study, base + "/error", "--on-missing-image error"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(fs::path(files[0]).filename().string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(base + "/error/results.csv"));
}

TEST(HostileImages, BadBoxesAndUnknownPatientsAreSkippedRowsNamedInTheLog) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  const std::string boxes = study + "/bounding_box_thermal.csv";
  CsvTable t = read_csv(boxes);
  ASSERT_GE(t.rows.size(), 4U);
  const int xmin = t.column_index("Xmin");
  t.rows[0][xmin] = "5000", t.rows[0][xmin + 1] = "5000", t.rows[0][xmin + 2] = "5010",
  t.rows[0][xmin + 3] = "5010";
  t.rows[1][xmin] = "30", t.rows[1][xmin + 1] = "30", t.rows[1][xmin + 2] = "20",
  t.rows[1][xmin + 3] = "20";
  t.rows[2][0] = "3_P099011BTLW.png";  // a patient the metadata does not have
  t.rows[2][1] = "99";
  std::ofstream out(boxes, std::ios::trunc);
  for (size_t c = 0; c < t.header.size(); ++c) out << (c ? "," : "") << t.header[c];
  out << "\n";
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << row[c];
    out << "\n";
  }
  out.close();
  const auto r = run_cli(thermal_search(study, base + "/o"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bounding_box_thermal.csv:"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(base + "/o/results.csv"));
}

TEST(HostileImages, EmptyImageFolderIsAClearError) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  for (const auto& f : thermal_files(study)) fs::remove(f);
  const auto r = run_cli(thermal_search(study, base + "/o"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no readable thermal_map images among the training patients"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(base + "/o/results.csv"));
}

TEST(HostileImages, KillDuringImageTrainingThenResumeGivesTheUninterruptedOutputs) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  ASSERT_EQ(run_cli(thermal_search(study, base + "/straight")).exit_code, 0);
  const auto killed =
      run_cli_env("WOUNDPHASE_TEST_KILL=fit:1", thermal_search(study, base + "/resumed"));
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
  const auto resumed = run_cli(thermal_search(study, base + "/resumed"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("1 finished jobs kept"), std::string::npos) << resumed.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/straight/" + f), slurp(base + "/resumed/" + f)) << f;
}

// ---- The hostile-frame corpus -------------------------------------------------------------------
// Each case turns one thermal frame of a small study into something hostile; one search in skip
// mode must finish, list every unusable frame in skipped_images.csv with its reason (and only
// those), and a search in error mode must refuse the study naming a file.

constexpr uint64_t kSparseBytes = uint64_t{64} << 30;

std::vector<uint8_t> encoded(const std::string& ext, const cv::Mat& m,
                             const std::vector<int>& params = {}) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(ext, m, out, params));
  return out;
}

void put(const fs::path& file, const std::string& bytes) {
  fs::remove(file);
  std::ofstream(file, std::ios::binary) << bytes;
}

void put(const fs::path& file, const std::vector<uint8_t>& bytes) {
  put(file, std::string(bytes.begin(), bytes.end()));
}

// The frame's own PNG with the size its IHDR declares replaced (the bytes after it are not
// touched, so it stays a small file): what a decompression bomb looks like to a header check.
std::string declaring(const fs::path& file, uint32_t width, uint32_t height) {
  std::string bytes = slurp(file.string());
  for (int i = 0; i < 4; ++i) {
    bytes[16 + i] = static_cast<char>(width >> (24 - 8 * i));
    bytes[20 + i] = static_cast<char>(height >> (24 - 8 * i));
  }
  return bytes;
}

struct FrameCase {
  const char* name;
  std::function<void(const fs::path& file)> make;
  const char* reason;  // in skipped_images.csv; nullptr: the frame still decodes
};

std::vector<FrameCase> frame_cases() {
  auto frame = [](const fs::path& f) { return cv::imread(f.string(), cv::IMREAD_COLOR); };
  return {
      {"sparse_64gib",
       [](const fs::path& f) {
         ASSERT_EQ(truncate(f.c_str(), static_cast<off_t>(kSparseBytes)), 0);
       },
       "68719476736 bytes, over the limit of 67108864 (--max-image-bytes)"},
      {"png_bomb_2_30_pixels", [](const fs::path& f) { put(f, declaring(f, 32768, 32768)); },
       "a 32768x32768 PNG frame (1073741824 pixels), over the limit of 67108864 "
       "(--max-image-pixels)"},
      {"png_bomb_wide", [](const fs::path& f) { put(f, declaring(f, 2147483647, 1)); },
       "(--max-image-pixels)"},
      {"png_declaring_zero_width", [](const fs::path& f) { put(f, declaring(f, 0, 72)); },
       "declaring a 0x72 image"},
      {"png_truncated", [](const fs::path& f) { put(f, slurp(f.string()).substr(0, 100)); },
       "cannot decode"},
      {"png_cut_in_header", [](const fs::path& f) { put(f, slurp(f.string()).substr(0, 12)); },
       "a PNG without its IHDR header"},
      {"empty_file", [](const fs::path& f) { put(f, std::string()); }, "image file is empty"},
      {"fifo",
       [](const fs::path& f) {
         fs::remove(f);
         ASSERT_EQ(mkfifo(f.c_str(), 0600), 0);
       },
       "is a named pipe, not an image file"},
      {"symlink_loop",
       [](const fs::path& f) {
         fs::remove(f);
         fs::create_symlink(f.filename(), f);
       },
       "is unreadable (a symlink loop?)"},
      {"dev_zero",
       [](const fs::path& f) {
         fs::remove(f);
         fs::create_symlink("/dev/zero", f);
       },
       "is a device, not an image file"},
      {"folder",
       [](const fs::path& f) {
         fs::remove(f);
         fs::create_directory(f);
       },
       "is a folder, not an image file"},
      {"deleted", [](const fs::path& f) { fs::remove(f); }, "is missing"},
      {"dangling_symlink",
       [](const fs::path& f) {
         fs::remove(f);
         fs::create_symlink("no_such_frame.png", f);
       },
       "is a broken symlink, not an image file"},
      {"gif", [](const fs::path& f) { put(f, std::string("GIF89a\x36\x00\x48\x00", 10)); },
       "not a PNG, JPEG, BMP, TIFF, WebP or PNM image"},
      {"text", [](const fs::path& f) { put(f, std::string("not an image at all\n")); },
       "not a PNG, JPEG, BMP, TIFF, WebP or PNM image"},
      {"jpeg_without_frame", [](const fs::path& f) { put(f, std::string("\xFF\xD8\xFF\xD9")); },
       "a JPEG without a frame header"},
      {"png_header_then_garbage",
       [](const fs::path& f) { put(f, slurp(f.string()).substr(0, 33) + std::string(500, 'x')); },
       "cannot decode"},
      {"pnm_absurd_size", [](const fs::path& f) { put(f, std::string("P6 99999999999 9 255\n")); },
       "a PNM whose size is absurd"},
      {"jpeg_named_png", [frame](const fs::path& f) { put(f, encoded(".jpg", frame(f))); },
       nullptr},
      {"bmp_named_png", [frame](const fs::path& f) { put(f, encoded(".bmp", frame(f))); }, nullptr},
      {"png_16_bit",
       [frame](const fs::path& f) {
         cv::Mat deep;
         frame(f).convertTo(deep, CV_16UC3, 257.0);
         put(f, encoded(".png", deep));
       },
       nullptr},
      {"png_with_alpha",
       [frame](const fs::path& f) {
         cv::Mat rgba;
         cv::cvtColor(frame(f), rgba, cv::COLOR_BGR2BGRA);
         put(f, encoded(".png", rgba));
       },
       nullptr},
      {"symlink_to_a_frame",
       [](const fs::path& f) {
         const fs::path real = f.parent_path().parent_path() / "real_frame.png";
         fs::rename(f, real);
         fs::create_symlink(real, f);
       },
       nullptr},
  };
}

TEST(HostileImages, CorpusOfHostileFramesIsSkippedAndNamedOrRefusedNamingAFile) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  const auto files = thermal_files(study);
  const auto cases = frame_cases();
  // One frame in three turned hostile: the rest still train the branch.
  ASSERT_GE(files.size(), 3 * cases.size());
  std::vector<std::pair<std::string, const FrameCase*>> made;  // file name, case
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const fs::path file = files[3 * i];
    cases[i].make(file);
    made.emplace_back("Thermal_Map_IMG/" + file.filename().string(), &cases[i]);
  }
  const auto r = run_cli(thermal_search(study, base + "/skip"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string listed = slurp(base + "/skip/skipped_images.csv");
  const auto rows = lines(listed);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0], "file,modality,reason");
  long expected_rows = 0;
  for (const auto& [file, c] : made) {
    SCOPED_TRACE(c->name);
    const auto row = std::find_if(rows.begin(), rows.end(), [&](const std::string& line) {
      return line.rfind(file + ",", 0) == 0;
    });
    if (c->reason == nullptr) {
      EXPECT_EQ(row, rows.end()) << *row;
      continue;
    }
    ++expected_rows;
    ASSERT_NE(row, rows.end()) << file << " not in\n" << listed;
    EXPECT_NE(row->find(",thermal_map,"), std::string::npos) << *row;
    EXPECT_NE(row->find(c->reason), std::string::npos) << *row;
  }
  EXPECT_EQ(static_cast<long>(rows.size()) - 1, expected_rows) << listed;
  // The log counts them per modality and names the first few with their reasons.
  EXPECT_NE(r.output.find(
                fmt::format("{} frames skipped (thermal_map {})", expected_rows, expected_rows)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(rows[1].substr(0, rows[1].find(','))), std::string::npos) << r.output;
  const std::string report = slurp(base + "/skip/report.html");
  EXPECT_NE(report.find(fmt::format("thermal_map {}", expected_rows)), std::string::npos);

  const auto strict = run_cli(thermal_search(study, base + "/error", "--on-missing-image error"));
  EXPECT_EQ(strict.exit_code, 2) << strict.output;
  EXPECT_TRUE(std::any_of(made.begin(), made.end(), [&](const auto& m) {
    return m.second->reason != nullptr &&
           strict.output.find(fs::path(m.first).filename().string()) != std::string::npos;
  })) << strict.output;
  EXPECT_FALSE(fs::exists(base + "/error/results.csv"));
}

TEST(HostileImages, LowerLimitsSkipEveryFrameOverThemAndNameTheOption) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  // Thermal frames at this scale are 54 x 72 = 3888 pixels: every one is over 3000.
  auto r = run_cli(
      thermal_search(study, base + "/pixels", "--max-image-pixels 3000 --on-missing-image error"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("a 54x72 PNG frame (3888 pixels), over the limit of 3000 "
                          "(--max-image-pixels)"),
            std::string::npos)
      << r.output;
  r = run_cli(thermal_search(study, base + "/bytes", "--max-image-bytes 0"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--max-image-bytes must be at least 1"), std::string::npos) << r.output;
}

// ---- Filesystem trouble around the frames (no image networks needed) ---------------------------

std::string metadata_study(const std::string& dir) {
  const auto r = run_cli("synth --out " + dir + " --patients 12 --seed 2 --no-images");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

TEST(HostileImages, AFolderLoopIsAnErrorWhenAskedForAndAWarningOtherwise) {
  const std::string base = testing::scratch_dir();
  const std::string study = metadata_study(base + "/study");
  fs::create_symlink("Depth_RGB", fs::path(study) / "Depth_RGB");
  fs::create_symlink("Thermal_RGB", fs::path(study) / "Thermal_RGB");
  const std::string search = "search --data " + study + " --cv-folds 2 --trees 10 --out ";
  auto r = run_cli(search + base + "/depth --modalities depth_rgb");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(study + "/Depth_RGB: cannot read the image folder (Too many levels of "
                                  "symbolic links)"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(base + "/depth/results.csv"));
  for (const char* modalities : {"metadata", "all"}) {
    SCOPED_TRACE(modalities);
    const std::string out = base + "/" + modalities;
    r = run_cli(search + out + " --modalities " + modalities);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("Thermal_RGB: cannot read the image folder"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("thermal_rgb is not available"), std::string::npos) << r.output;
    EXPECT_TRUE(fs::exists(out + "/results.csv"));
  }
  r = run_cli("train --data " + study + " --modalities metadata --trees 10 --out " + base + "/b");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(HostileImages, InspectListsLoopsAndNonFilesAsProblemsInsteadOfFailing) {
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  fs::remove_all(fs::path(study) / "Depth_RGB");
  fs::create_symlink("Depth_RGB", fs::path(study) / "Depth_RGB");
  const fs::path frame = thermal_files(study).front();
  fs::remove(frame);
  ASSERT_EQ(mkfifo(frame.c_str(), 0600), 0);
  fs::remove(fs::path(study) / "bounding_box_depth.csv");
  fs::create_symlink("bounding_box_depth.csv", fs::path(study) / "bounding_box_depth.csv");
  const auto r = run_cli("inspect --data " + study);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Depth_RGB: cannot read the image folder (Too many levels"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Thermal_Map_IMG: 1 .png entries are not files"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("bounding_box_depth.csv: cannot read the box file"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace woundphase::testing
