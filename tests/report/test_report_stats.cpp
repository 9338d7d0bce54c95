// The report's sections for the paired statistics: ranking on common rows, comparisons,
// complementarity and calibration.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fixtures/errors.h"
#include "report_fixture.h"
#include "test_paths.h"
#include "woundphase/report.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// results.csv with the statistics columns: on common rows metadata+thermal_map (own QWK lower)
// beats metadata, and its own rows are fewer than metadata's.
void write_stats_results(const std::string& dir) {
  fixture_write(fs::path(dir) / "results.csv",
                "modalities,n_samples,qwk_mean,qwk_std,kappa_mean,kappa_std,accuracy_mean,"
                "macro_f1_mean,f1_I,f1_P,f1_R,n_common,qwk_common_mean,qwk_common_std,f1_weighted,"
                "ece,brier,log_loss\n"
                "metadata,40,0.700000,0.050000,0.600000,0.050000,0.800000,0.700000,0.7,0.8,0.6,30,"
                "0.500000,0.040000,0.790000,0.081000,0.300000,0.600000\n"
                "metadata+thermal_map,30,0.650000,0.050000,nan,nan,0.800000,0.700000,0.7,0.8,0.6,"
                "30,0.650000,0.050000,0.780000,0.052000,0.310000,0.610000\n");
}

TEST(ReportStats, RanksOnCommonRowsWhenTheyDifferAndSaysSo) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  write_stats_results(dir);
  const std::string html = render_report(dir);
  const std::string ranking = report_section(html, "ranking");
  EXPECT_NE(ranking.find("ranked on the <b>common rows</b>"), std::string::npos);
  // The fusion ranks first on common rows (0.650 > 0.500) although its own-row QWK is lower.
  EXPECT_LT(ranking.find("<td>1</td><td class=\"l\">metadata+<wbr>thermal_map"),
            ranking.find("<td>2</td><td class=\"l\">metadata</td>"));
  EXPECT_NE(ranking.find("<td>n/a</td>"), std::string::npos);  // undefined kappa: n/a, not 0
  EXPECT_NE(
      html.find("Best combination: metadata+thermal_map (QWK 0.650 \u00b1 0.050 on the common "
                "rows)."),
      std::string::npos);
  // Calibration table from results.csv, reliability diagrams from predictions.csv.
  const std::string calibration = report_section(html, "calibration");
  EXPECT_NE(calibration.find("<td>0.081</td>"), std::string::npos);
  EXPECT_NE(calibration.find("aria-label=\"Reliability diagram \u2014 metadata\""),
            std::string::npos);
}

TEST(ReportStats, OwnRowRankingWhenRowsAreCommon) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  const std::string html = render_report(dir);
  EXPECT_EQ(report_section(html, "ranking").find("common rows</b>"), std::string::npos);
  EXPECT_NE(report_section(html, "comparisons").find("comparisons.csv is missing"),
            std::string::npos);
  EXPECT_NE(report_section(html, "complementarity").find("complementarity.csv is missing"),
            std::string::npos);
}

TEST(ReportStats, ComparisonsAndComplementarityTables) {
  const std::string dir = scratch_dir();
  write_fixture(dir, FixtureOptions{{"metadata", "thermal_map", "metadata+thermal_map"}});
  fixture_write(fs::path(dir) / "comparisons.csv",
                "a,b,n_common,qwk_a,qwk_b,qwk_diff,diff_ci_low,diff_ci_high,p_corrected_t,"
                "p_wilcoxon,p_mcnemar,p_holm,significant,n_folds,t_statistic,wilcoxon_statistic,"
                "mcnemar_b,mcnemar_c,test_train_ratio,alpha\n"
                "metadata+thermal_map,metadata,30,0.6,0.5,0.1,0.02,0.18,0.004,0.01,0.03,0.008,yes,"
                "6,4.1,0,9,2,0.5,0.05\n"
                "thermal_map,metadata,30,0.52,0.5,0.02,-0.05,0.09,0.6,0.7,nan,0.6,no,6,0.5,8,3,3,"
                "0.5,0.05\n");
  fixture_write(fs::path(dir) / "complementarity.csv",
                "a,b,kind,n,both_right,a_only_right,b_only_right,both_wrong,accuracy_a,accuracy_b,"
                "error_overlap,yules_q,disagreement,oracle_accuracy,fusion_gain\n"
                "metadata,thermal_map,modalities,60,30,10,12,8,0.666667,0.7,0.266667,0.333333,"
                "0.366667,0.866667,\n"
                "metadata+thermal_map,metadata,fusion,60,35,8,5,12,0.716667,0.583333,0.48,0.826,"
                "0.216667,0.8,0.05\n");
  const std::string html = render_report(dir);
  const std::string comparisons = report_section(html, "comparisons");
  EXPECT_NE(comparisons.find("<td>[0.020, 0.180]</td>"), std::string::npos);
  EXPECT_NE(comparisons.find("<td>0.0080</td><td>yes</td>"), std::string::npos);
  EXPECT_NE(comparisons.find("<td>n/a</td>"), std::string::npos);  // a NaN p-value
  const std::string complementarity = report_section(html, "complementarity");
  EXPECT_NE(complementarity.find("aria-label=\"Yule&#39;s Q between the single modalities\""),
            std::string::npos);
  EXPECT_NE(complementarity.find("<td>0.333</td>"), std::string::npos);
  EXPECT_NE(complementarity.find("<td>0.050</td>"), std::string::npos);  // fusion gain
}

TEST(ReportStats, MalformedComparisonsNameFileAndLine) {
  const std::string dir = scratch_dir();
  write_fixture(dir);
  fixture_write(fs::path(dir) / "comparisons.csv",
                "a,b,n_common,qwk_a,qwk_b,qwk_diff,diff_ci_low,diff_ci_high,p_corrected_t,"
                "p_wilcoxon,p_mcnemar,p_holm,significant\n"
                "x,metadata,10,0.5,0.4,0.1,0,0.2,0.1,0.1,0.1,0.1,maybe\n");
  const std::string what = input_error_of([&] { render_report(dir); });
  EXPECT_NE(what.find("comparisons.csv:2: column 'significant'"), std::string::npos) << what;
}

}  // namespace
}  // namespace woundphase::testing
