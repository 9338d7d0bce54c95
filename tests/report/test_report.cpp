#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "fixtures/errors.h"
#include "report/run_data.h"
#include "report/svg.h"
#include "report_fixture.h"
#include "test_paths.h"
#include "woundphase/dataset.h"
#include "woundphase/report.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

constexpr const char* kNotAvailable = "not available for this run (metadata-only search)";

// The <svg> element whose aria-label is `label`.
std::string svg_labelled(const std::string& html, const std::string& label) {
  const size_t at = html.find("aria-label=\"" + label + "\"");
  if (at == std::string::npos) return "";
  const size_t start = html.rfind("<svg", at);
  const size_t end = html.find("</svg>", at);
  return html.substr(start, end - start);
}

TEST(Report, WritesAnSvgForEveryRequiredSection) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  write_report(dir);
  const std::string html = slurp(dir + "/report.html");
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  for (const char* id : {"ranking", "folds", "confusion", "f1", "distribution"}) {
    const std::string s = report_section(html, id);
    ASSERT_FALSE(s.empty()) << id;
    EXPECT_NE(s.find("<svg"), std::string::npos) << id;
  }
  // One strip chart and two heatmaps per combination; a class chart per run.
  EXPECT_EQ(testing::occurrences(report_section(html, "folds"), "aria-label=\"QWK per test fold: "),
            2u);
  EXPECT_EQ(testing::occurrences(report_section(html, "confusion"), "<svg"), 4u);
  EXPECT_EQ(testing::occurrences(report_section(html, "distribution"), "aria-label=\"run "), 2u);
  // Summary and settings come from settings.json; no temporary file is left behind.
  EXPECT_NE(report_section(html, "summary").find("0123456789abcdef"), std::string::npos);
  EXPECT_NE(report_section(html, "settings").find("<pre>"), std::string::npos);
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos);
}

TEST(Report, OptionalSectionsSayNotAvailableWithoutTheirFiles) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  const std::string html = render_report(dir);
  for (const char* id : {"stages", "curves"}) {
    const std::string s = report_section(html, id);
    EXPECT_NE(s.find(kNotAvailable), std::string::npos) << id;
    EXPECT_EQ(s.find("<svg"), std::string::npos) << id;
    EXPECT_EQ(s.find("<table"), std::string::npos) << id;
  }
}

TEST(Report, OptionalSectionsAppearWhenTheirFilesExist) {
  const std::string dir = scratch_dir();
  write_fixture(dir, image_branch_fixture());
  const std::string html = render_report(dir);
  const std::string stages = report_section(html, "stages");
  EXPECT_EQ(stages.find(kNotAvailable), std::string::npos);
  EXPECT_EQ(testing::occurrences(stages, "<table"), 2u);  // one per combination
  for (const char* header : {"Pre-train", "Stage 1", "Stage 2", "Final (QWK)", "mean \u00b1 std"})
    EXPECT_NE(stages.find(header), std::string::npos) << header;
  const std::string curves = report_section(html, "curves");
  EXPECT_EQ(curves.find(kNotAvailable), std::string::npos);
  // Two components, each with a loss and a validation-QWK chart (plus the folds' legend).
  EXPECT_EQ(testing::occurrences(curves, "aria-label=\"Training loss\""), 2u);
  EXPECT_EQ(testing::occurrences(curves, "aria-label=\"Validation QWK\""), 2u);
  EXPECT_NE(curves.find("thermal_map backbone"), std::string::npos);
  EXPECT_NE(curves.find("<polyline"), std::string::npos);
}

TEST(Report, RankingNumbersMatchResultsCsv) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  const std::string ranking = report_section(render_report(dir), "ranking");
  const CsvTable results = read_csv(dir + "/results.csv");
  ASSERT_EQ(results.rows.size(), 2u);
  std::vector<std::pair<double, size_t>> order;  // (qwk_mean, position of its table row)
  for (const auto& row : results.rows) {
    const std::string cell =
        fmt::format("<td>{:.3f} \u00b1 {:.3f}</td>", std::stod(row[2]), std::stod(row[3]));
    const size_t at = ranking.find(cell);
    ASSERT_NE(at, std::string::npos) << cell;
    order.emplace_back(std::stod(row[2]), at);
    const size_t row_start = ranking.rfind("<tr>", at);
    const size_t row_end = ranking.find("</tr>", at);
    const std::string tr = ranking.substr(row_start, row_end - row_start);
    std::string name;  // the cell may break after a '+'
    for (char c : row[0]) name += c == '+' ? std::string("+<wbr>") : std::string(1, c);
    EXPECT_NE(tr.find("<td class=\"l\">" + name + "</td>"), std::string::npos) << tr;
    EXPECT_NE(tr.find("<td>" + row[1] + "</td>"), std::string::npos);  // n_samples
    for (size_t c : {4, 6, 7, 8, 9, 10}) {
      const std::string value = fmt::format("{:.3f}", std::stod(row[c]));
      EXPECT_NE(tr.find(value), std::string::npos) << results.header[c] << " " << value;
    }
  }
  // Best QWK first.
  std::sort(order.begin(), order.end());
  EXPECT_GT(order[0].second, order[1].second);
}

TEST(Report, ConfusionCountsAddUpToThePredictions) {
  const std::string dir = scratch_dir();
  const testing::Fixture fx = write_fixture(dir);
  const std::string html = render_report(dir);
  const std::regex number_cell(">([0-9]+)</text>");
  for (const auto& [combination, n] : fx.predictions_per_combination) {
    const std::string svg = svg_labelled(html, "Counts \u2014 " + combination);
    ASSERT_FALSE(svg.empty()) << combination;
    long total = 0;
    int cells = 0;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), number_cell);
         it != std::sregex_iterator(); ++it) {
      total += std::stol((*it)[1]);
      ++cells;
    }
    EXPECT_EQ(cells, kNumClasses * kNumClasses);
    EXPECT_EQ(total, n) << combination;
    EXPECT_EQ(n, fx.visit_wounds * 2);  // every visit-wound once per run
    EXPECT_NE(svg.find(fmt::format("n = {} predictions", n)), std::string::npos);
  }
}

TEST(Report, EscapesNamesFromTheInputs) {
  const std::string dir = scratch_dir();
  FixtureOptions o = image_branch_fixture();
  o.combinations = {"metadata", "metadata+<&>\"x"};
  o.first_patient_id = "<&>pat";
  write_fixture(dir, o);
  const std::string html = render_report(dir);
  EXPECT_EQ(html.find("<&>"), std::string::npos);
  EXPECT_EQ(html.find("+<&"), std::string::npos);
  EXPECT_NE(html.find("metadata+&lt;&amp;&gt;&quot;x"), std::string::npos);
  // Self-contained: no script, no external resource, no URL at all.
  for (const char* banned : {"<script", "http:", "https:", "url(", "<link", "<img", "@import"})
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
}

TEST(Report, EscapeAndNumberHelpers) {
  EXPECT_EQ(report::escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(report::fixed(-0.0001, 3), "0.000");
  EXPECT_EQ(report::fixed(-0.25, 2), "-0.25");
  EXPECT_EQ(report::fixed(NAN, 3), "\u2013");
  const auto ticks = report::nice_ticks(-0.13, 0.87, 5);
  EXPECT_DOUBLE_EQ(ticks.front(), -0.2);
  EXPECT_DOUBLE_EQ(ticks.back(), 1.0);
}

TEST(Report, MissingResultsCsvIsAnInputErrorNamingTheFile) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  fs::remove(dir + "/results.csv");
  const std::string error = input_error_of([&] { write_report(dir); });
  EXPECT_NE(error.find("results.csv"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir + "/report.html"));
  EXPECT_THROW(write_report(dir + "/no_such_folder"), InputError);
}

TEST(Report, MalformedFilesNameTheFileAndLine) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  // Line 3 of folds.csv gets a non-numeric QWK.
  std::string folds = slurp(dir + "/folds.csv");
  size_t line3 = folds.find('\n', folds.find('\n') + 1) + 1;
  size_t qwk = line3;
  for (int comma = 0; comma < 6; ++comma) qwk = folds.find(',', qwk) + 1;
  folds.replace(qwk, folds.find(',', qwk) - qwk, "abc");
  testing::fixture_write(dir + "/folds.csv", folds);
  const std::string bad_number = input_error_of([&] { render_report(dir); });
  EXPECT_NE(bad_number.find("folds.csv:3"), std::string::npos) << bad_number;
  EXPECT_NE(bad_number.find("qwk"), std::string::npos) << bad_number;

  write_fixture(dir);
  testing::fixture_write(dir + "/predictions.csv",
                         "run,fold,modalities,patient,appt,dfu,label,prob_I,prob_P,prob_R,pred\n"
                         "0,0,metadata,P1,0,1,Q,0.1,0.8,0.1,P\n");
  const std::string bad_class = input_error_of([&] { render_report(dir); });
  EXPECT_NE(bad_class.find("predictions.csv:2"), std::string::npos) << bad_class;
  EXPECT_NE(bad_class.find("'Q'"), std::string::npos) << bad_class;

  write_fixture(dir);
  testing::fixture_write(dir + "/results.csv", "modalities,n_samples\nmetadata,10\n");
  const std::string missing_column = input_error_of([&] { render_report(dir); });
  EXPECT_NE(missing_column.find("missing column 'qwk_mean'"), std::string::npos) << missing_column;

  write_fixture(dir);
  testing::fixture_write(dir + "/settings.json", "{ not json");
  EXPECT_THROW(render_report(dir), InputError);
}

TEST(Report, SameInputsGiveTheSameBytes) {
  const std::string dir = scratch_dir();
  write_fixture(dir, image_branch_fixture());
  write_report(dir);
  const std::string first = slurp(dir + "/report.html");
  write_report(dir);
  EXPECT_EQ(slurp(dir + "/report.html"), first);
  // The same folder copied elsewhere gives the same report: no path of the run folder in it.
  const std::string other = dir + "_copy";
  fs::remove_all(other);
  fs::create_directories(other);
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != "report.html") fs::copy(entry.path(), other);
  EXPECT_EQ(render_report(other), first);
  fs::remove_all(other);
}

TEST(Report, SingleSplitAndMissingOptionalInputs) {
  const std::string dir = scratch_dir();
  FixtureOptions o;
  o.folds = 2;
  o.runs = 1;
  write_fixture(dir, o);
  fs::remove(dir + "/splits.csv");
  fs::remove(dir + "/settings.json");
  fs::remove(dir + "/oof_predictions.csv");
  const std::string html = render_report(dir);
  EXPECT_NE(report_section(html, "distribution").find("splits.csv is missing"), std::string::npos);
  EXPECT_NE(report_section(html, "settings").find("settings.json is missing"), std::string::npos);
  EXPECT_NE(report_section(html, "ranking").find("<svg"), std::string::npos);
}

TEST(Bootstrap, IsDeterministicAndBracketsTheEstimate) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  const report::RunData data = report::load_run(dir);
  std::vector<const report::PredictionRow*> rows;
  for (const auto& p : data.predictions)
    if (p.modalities == "metadata") rows.push_back(&p);
  const report::Interval a = report::bootstrap_pooled_qwk(rows, 500, 7);
  const report::Interval b = report::bootstrap_pooled_qwk(rows, 500, 7);
  EXPECT_EQ(a.lower, b.lower);
  EXPECT_EQ(a.upper, b.upper);
  EXPECT_EQ(a.patients, 24);
  EXPECT_LT(a.lower, a.estimate);
  EXPECT_GT(a.upper, a.estimate);
  EXPECT_GT(a.lower, 0.0);
  EXPECT_LE(a.upper, 1.0);
  // The rows' order does not matter.
  std::reverse(rows.begin(), rows.end());
  const report::Interval c = report::bootstrap_pooled_qwk(rows, 500, 7);
  EXPECT_EQ(a.lower, c.lower);
  EXPECT_EQ(a.estimate, c.estimate);

  // Perfect predictions: QWK 1 in every replicate.
  std::vector<report::PredictionRow> perfect;
  for (int i = 0; i < 30; ++i)
    perfect.push_back(
        {0, 0, "m", fmt::format("p{}", i % 10), std::to_string(i), "1", i % 3, i % 3});
  std::vector<const report::PredictionRow*> ptrs;
  for (const auto& p : perfect) ptrs.push_back(&p);
  const report::Interval one = report::bootstrap_pooled_qwk(ptrs, 200, 1);
  EXPECT_DOUBLE_EQ(one.estimate, 1.0);
  EXPECT_DOUBLE_EQ(one.lower, 1.0);
  EXPECT_DOUBLE_EQ(one.upper, 1.0);
}

// A real search through the command line, when the binary is built.
TEST(Report, ReportsARealSearch) {
  if (!fs::exists(testing::binary())) WOUNDPHASE_MISSING_TOOL() << "woundphase binary not built";
  const std::string dir = scratch_dir();
  const auto synth = testing::run_cli(fmt::format("synth --out {}/data --patients 40", dir));
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const auto search = testing::run_cli(fmt::format(
      "--threads 1 --verbosity 0 search --data {0}/data --out {0}/run --runs 2 --cv-folds 3 "
      "--trees 30",
      dir));
  ASSERT_EQ(search.exit_code, 0) << search.output;
  write_report(dir + "/run");
  const std::string html = slurp(dir + "/run/report.html");
  EXPECT_NE(report_section(html, "ranking").find("<svg"), std::string::npos);
  EXPECT_NE(report_section(html, "stages").find(kNotAvailable), std::string::npos);
  EXPECT_EQ(testing::occurrences(report_section(html, "distribution"), "aria-label=\"run "), 2u);
}

// Renders the report in headless Chromium and checks the screenshot is not blank: a PNG of a
// blank page compresses to almost nothing, one with plots does not.
TEST(ReportRender, ChromiumScreenshotShowsThePlots) {
  constexpr const char* kChromium = "/usr/bin/chromium";
  if (!fs::exists(kChromium)) WOUNDPHASE_MISSING_TOOL() << kChromium << " is not installed";
  const std::string dir = scratch_dir();
  FixtureOptions o = image_branch_fixture();
  write_fixture(dir + "/run", o);
  write_report(dir + "/run");
  testing::fixture_write(dir + "/blank.html", "<!DOCTYPE html><html><body></body></html>\n");
  auto screenshot = [&](const std::string& page, const std::string& png) {
    const std::string cmd = fmt::format(
        "timeout 60 {} --headless --no-sandbox --disable-gpu --no-first-run "
        "--disable-background-networking --hide-scrollbars --user-data-dir={}/profile "
        "--screenshot={} --window-size=1200,3000 file://{} > {}.log 2>&1",
        kChromium, dir, png, page, png);
    return std::system(cmd.c_str());
  };
  const std::string report_png = dir + "/report.png";
  const std::string blank_png = dir + "/blank.png";
  EXPECT_EQ(screenshot(dir + "/run/report.html", report_png), 0) << slurp(report_png + ".log");
  EXPECT_EQ(screenshot(dir + "/blank.html", blank_png), 0) << slurp(blank_png + ".log");
  ASSERT_TRUE(fs::exists(report_png));
  ASSERT_TRUE(fs::exists(blank_png));
  const std::string png = slurp(report_png);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const auto report_size = fs::file_size(report_png);
  const auto blank_size = fs::file_size(blank_png);
  std::cout << "screenshot: " << report_png << " (" << report_size << " bytes; blank page "
            << blank_size << " bytes)\n";
  EXPECT_GT(report_size, 50u * 1024);
  EXPECT_GT(report_size, 10 * blank_size);
}

}  // namespace
}  // namespace woundphase::testing
