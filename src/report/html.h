// Internal to src/report: HTML table cells and figures shared by the report's sections.
#pragma once

#include <string>

#include "woundphase/metrics.h"  // for MeanStd

namespace woundphase::report {

// Table cells with escaped text; `left` aligns left.
std::string td(const std::string& text, bool left = false);
std::string th(const std::string& text, bool left = false);
// A combination's name in a table cell: may break after each '+'.
std::string name_td(const std::string& name);
// "mean ± std" with 3 decimals; "n/a" when the mean is undefined (e.g. a kappa with one class).
std::string mean_pm_std(const MeanStd& m);
// A value with `decimals` decimals, "n/a" when NaN.
std::string value_or_na(double v, int decimals);
// A <figure> holding inline SVGs and an escaped caption.
std::string figure(const std::string& svgs, const std::string& caption);

}  // namespace woundphase::report
