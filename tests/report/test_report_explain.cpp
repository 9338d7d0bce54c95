// The report's sections on the clinical features' importance (importance.csv) and on fused
// combinations predicted from fewer modalities (degraded.csv).
#include <gtest/gtest.h>

#include "report_fixture.h"
#include "test_paths.h"
#include "woundphase/report.h"

namespace woundphase::testing {
namespace {

TEST(ReportExplain, ImportanceRanksFeaturesByMeanAbsoluteContributionOverFolds) {
  const std::string dir = testing::scratch_dir() + "/run";
  write_fixture(dir);
  // Onset: mean 0.03 over two folds; Age 0.01; "A & B" 0.02 (escaped in the page).
  fixture_write(dir + "/importance.csv",
                "run,fold,feature,mean_abs_contribution,scale,permutation_qwk_drop,permutations\n"
                "0,0,Age,0.01,probability,0.001,5\n0,1,Age,0.01,probability,-0.003,5\n"
                "0,0,Onset (Days),0.02,probability,0.10,5\n"
                "0,1,Onset (Days),0.04,probability,0.06,5\n"
                "0,0,A & B,0.02,probability,nan,5\n0,1,A & B,0.02,probability,0.01,5\n");
  const std::string s = report_section(render_report(dir), "importance");
  ASSERT_FALSE(s.empty());
  const size_t onset = s.find("Onset (Days)");
  const size_t ab = s.find("A &amp; B");
  const size_t age = s.find(">Age<");
  ASSERT_NE(onset, std::string::npos) << s;
  ASSERT_NE(ab, std::string::npos) << s;
  ASSERT_NE(age, std::string::npos) << s;
  EXPECT_LT(onset, ab);
  EXPECT_LT(ab, age);
  EXPECT_NE(s.find("0.030 \u00b1 0.014"), std::string::npos) << s;  // mean, sample std
  EXPECT_NE(s.find("0.080 \u00b1 0.028"), std::string::npos) << s;  // QWK drop of Onset
  EXPECT_NE(s.find("mean of 5 permutations"), std::string::npos) << s;
}

TEST(ReportExplain, DegradedSectionAveragesEachSubCombinationOverFolds) {
  const std::string dir = testing::scratch_dir() + "/run";
  write_fixture(dir);
  std::string s = report_section(render_report(dir), "degraded");
  EXPECT_NE(s.find("not available"), std::string::npos) << s;
  fixture_write(dir + "/degraded.csv",
                "run,fold,modalities,used,n,qwk_used,qwk_all\n"
                "0,0,metadata+thermal_map,metadata,10,0.400000,0.500000\n"
                "0,1,metadata+thermal_map,metadata,12,0.600000,0.500000\n"
                "0,0,metadata+thermal_map,thermal_map,10,0.200000,0.500000\n"
                "0,1,metadata+thermal_map,thermal_map,12,0.200000,0.500000\n");
  s = report_section(render_report(dir), "degraded");
  EXPECT_NE(s.find("0.500 \u00b1 0.141"), std::string::npos) << s;   // from metadata
  EXPECT_NE(s.find("0.200 \u00b1 0.000"), std::string::npos) << s;   // from thermal_map
  EXPECT_NE(s.find("-0.300 \u00b1 0.000"), std::string::npos) << s;  // its difference
}

}  // namespace
}  // namespace woundphase::testing
