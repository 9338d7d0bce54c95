// Internal to src/report: the sections for the paired statistics (comparisons.csv,
// complementarity.csv, calibration from predictions.csv and results.csv).
#pragma once

#include <string>
#include <vector>

#include "report/run_data.h"

namespace woundphase::report {

std::string comparisons_section(const RunData& data);
std::string complementarity_section(const RunData& data);
// `order`: the combinations in ranking order.
// importance.csv: the clinical features' importance on the test folds; degraded.csv: fused
// combinations predicted from fewer modalities (explain_sections.cpp).
std::string importance_section(const RunData& data);
std::string degraded_section(const RunData& data);
std::string calibration_section(const RunData& data, const std::vector<std::string>& order);

}  // namespace woundphase::report
