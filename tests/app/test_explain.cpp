// predict --explain as a user runs it: explanations.csv beside --out, additive to the predicted
// probabilities of predictions.csv, and the planted signal on top.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>  // for system
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fixtures/cli.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// A cohort with a strong planted phase signal, written once.
const std::string& signal_cohort() {
  return testing::cli_cohort("explain_cohort", "--patients 40 --seed 3 --signal 1");
}

struct Explained {
  std::map<std::string, std::vector<double>> probs;  // "patient,appt,dfu" -> prob_I, P, R
  // "patient,appt,dfu" -> class -> base + sum of contributions
  std::map<std::string, std::map<std::string, double>> sums;
  std::map<std::string, std::map<std::string, int>> bases;  // (base) rows per key and class
  std::map<std::string, double> mean_abs;                   // feature -> mean |contribution|
  std::vector<std::string> header;
};

Explained read_outputs(const std::string& dir) {
  Explained e;
  const auto preds = lines(slurp(dir + "/preds.csv"));
  for (size_t i = 1; i < preds.size(); ++i) {
    const auto f = csv_fields(preds[i]);
    // patient, appt, dfu, label, prob_I, prob_P, prob_R, pred
    e.probs[f[0] + "," + f[1] + "," + f[2]] = {std::stod(f[4]), std::stod(f[5]), std::stod(f[6])};
  }
  const auto rows = lines(slurp(dir + "/explanations.csv"));
  e.header = csv_fields(rows.at(0));
  std::map<std::string, int> count;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto f = csv_fields(rows[i]);
    const std::string key = f[0] + "," + f[1] + "," + f[2];
    const double contribution = std::stod(f[6]);
    e.sums[key][f[3]] += contribution;
    if (f[4] == "(base)") {
      ++e.bases[key][f[3]];
      continue;
    }
    e.mean_abs[f[4]] += std::abs(contribution);
    ++count[f[4]];
  }
  for (auto& [feature, sum] : e.mean_abs) sum /= count[feature];
  return e;
}

TEST(Explain, ContributionsAddUpToPredictionsCsvAndThePlantedSignalLeads) {
  const std::string dir = testing::scratch_dir();
  auto r =
      train_then_predict(signal_cohort(), dir, "--trees 60", "preds.csv", "--explain --report");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("explanations.csv"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("predictions.html"), std::string::npos) << r.output;
  const Explained e = read_outputs(dir);
  EXPECT_EQ(e.header, (std::vector<std::string>{"patient", "appt", "dfu", "class", "feature",
                                                "value", "contribution"}));
  ASSERT_EQ(e.sums.size(), e.probs.size());
  const std::vector<std::string> classes = {"I", "P", "R"};
  for (const auto& [key, probs] : e.probs) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(e.bases.at(key).at(classes[c]), 1) << key;
      // predictions.csv has 6 decimals (error <= 5e-7), the contributions 9 significant digits.
      EXPECT_NEAR(e.sums.at(key).at(classes[c]), probs[c], 1e-6) << key << " " << classes[c];
    }
  }
  // The features synth makes phase-dependent with --signal (temperatures, onset, wound state,
  // and the visit order through the I -> P -> R progression) lead; none of the phase-free ones
  // (age, sex, weight, height, history, foot and leg findings, ...) may.
  std::string top;
  for (const auto& [feature, v] : e.mean_abs)
    if (top.empty() || v > e.mean_abs.at(top)) top = feature;
  const std::vector<std::string> planted = {"Wound Centre", "Peri-Ulcer", "Onset",      "Tunneling",
                                            "Exudate",      "Erythema",   "Edema",      "Pain",
                                            "Odor",         "Appt",       "Wound Score"};
  bool found = false;
  for (const std::string& p : planted) found = found || top.find(p) != std::string::npos;
  EXPECT_TRUE(found) << "largest mean |contribution|: " << top;
}

// predict --report: a card per visit-wound with its decision and the features that pushed it
// most (the largest |contribution| of explanations.csv for the decided class), self-contained,
// and Chromium renders it.
TEST(Explain, CasePageShowsEveryVisitWoundWithItsTopFeaturesAndRenders) {
  const std::string dir = testing::scratch_dir();
  auto r =
      train_then_predict(signal_cohort(), dir, "--trees 40", "out/preds.csv", "--report --explain");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string html = slurp(dir + "/out/predictions.html");
  const auto preds = lines(slurp(dir + "/out/preds.csv"));
  EXPECT_EQ(testing::occurrences(html, "<section class=\"card\">"), preds.size() - 1);
  // No script, no external resource.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  // The first visit-wound's card lists, first, its largest contribution to its decided class.
  const auto first = csv_fields(preds[1]);
  const std::string decision = first[7];
  std::string top_feature;
  double top = -1;
  for (const std::string& line : lines(slurp(dir + "/out/explanations.csv"))) {
    const auto f = csv_fields(line);
    if (f[0] != first[0] || f[1] != first[1] || f[2] != first[2] || f[3] != decision ||
        f[4] == "(base)")
      continue;
    if (std::abs(std::stod(f[6])) > top) {
      top = std::abs(std::stod(f[6]));
      top_feature = f[4];
    }
  }
  const size_t card = html.find("<section class=\"card\">");
  const size_t row = html.find("<tr><td class=\"l\">", card);
  ASSERT_NE(row, std::string::npos);
  std::string escaped;
  for (char c : top_feature) {
    if (c == '&')
      escaped += "&amp;";
    else if (c == '<')
      escaped += "&lt;";
    else if (c == '>')
      escaped += "&gt;";
    else if (c == '"')
      escaped += "&quot;";
    else if (c == '\'')
      escaped += "&#39;";
    else
      escaped += c;
  }
  EXPECT_EQ(html.compare(row + 18, escaped.size(), escaped), 0)
      << top_feature << " vs " << html.substr(row, 200);
  EXPECT_NE(html.find("Decision: <span class=\"decision\">" + decision, card), std::string::npos);

  constexpr const char* kChromium = "/usr/bin/chromium";
  if (!fs::exists(kChromium)) WOUNDPHASE_MISSING_TOOL() << kChromium << " is not installed";
  const std::string png = dir + "/page.png";
  const std::string cmd =
      "timeout 60 " + std::string(kChromium) +
      " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
      "--hide-scrollbars --user-data-dir=" +
      dir + "/profile --screenshot=" + png + " --window-size=1200,2000 file://" + dir +
      "/out/predictions.html > " + png + ".log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << slurp(png + ".log");
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 50U * 1024) << "a blank page compresses to almost nothing";
}

TEST(Explain, GbdtContributionsAreMarginsWhoseSoftmaxIsThePrediction) {
  const std::string dir = testing::scratch_dir();
  auto r = train_then_predict(signal_cohort(), dir, "--model gbdt --gbdt-rounds 20", "preds.csv",
                              "--explain");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Explained e = read_outputs(dir);
  for (const auto& [key, probs] : e.probs) {
    const auto& m = e.sums.at(key);
    const double norm = std::exp(m.at("I")) + std::exp(m.at("P")) + std::exp(m.at("R"));
    EXPECT_NEAR(std::exp(m.at("I")) / norm, probs[0], 1e-5) << key;
    EXPECT_NEAR(std::exp(m.at("R")) / norm, probs[2], 1e-5) << key;
  }
}

}  // namespace
}  // namespace woundphase::testing
