// Explanations of a bundle's predictions: per visit-wound and class, each clinical feature's
// contribution to the metadata branch's output (TreeSHAP, tabular.h), written as
// explanations.csv beside predict's --out.
#pragma once

#include <string>
#include <vector>

#include "woundphase/core.h"
#include "woundphase/dataset.h"
#include "woundphase/tabular.h"

namespace woundphase {

struct MetadataModel;   // metadata_branch.h
struct SearchSettings;  // search_settings.h

// The name of the row of a visit-wound and class that holds the base (expected value).
inline constexpr char kBaseFeature[] = "(base)";

// The metadata branch's explanations for some rows of a data set.
struct TabularExplanation {
  std::vector<int> rows;              // dataset rows, in the order of `contributions`
  std::vector<FeatureInfo> features;  // the encoder's features (names, categories)
  Matrix x;                           // the encoded values explained, one row per entry of rows
  Contributions contributions;        // of the tree model on `x`
  // The value of feature `f` of explained row `i` as a reader sees it: the number (the shortest
  // text of the float the model saw), the category's name, or "" when missing.
  std::string value_text(size_t i, size_t f) const;
};

TabularExplanation explain_metadata(const MetadataModel& model, const Dataset& data,
                                    const std::vector<int>& rows);

// explanations.csv: patient, appt, dfu, class, feature, value, contribution, one row per
// visit-wound, class and feature plus one per visit-wound and class whose feature is "(base)".
// Contributions are written with 9 significant digits.
void write_explanations_csv(const Schema& schema, const Dataset& data, const TabularExplanation& e,
                            const std::string& path);

// Global importance of one clinical feature in one (run, fold) of a search, on the fold's test
// visit-wounds, for the metadata model that fold fits (the same model: same rows, same seed).
struct FeatureImportance {
  int run = 0;
  int fold = 0;
  std::string feature;
  // Mean over the test visit-wounds and the classes of |contribution| (probability units for the
  // forest, margin units for gbdt: `scale`).
  double mean_abs_contribution = 0;
  ContributionScale scale = ContributionScale::kProbability;
  // The test QWK minus the mean test QWK with the feature's values permuted among the test
  // visit-wounds (kPermutationRepeats seeded permutations): the score lost without the feature.
  double permutation_qwk_drop = 0;
  double test_qwk = 0;  // the fold's test QWK with nothing permuted (the search's, same model)
};
inline constexpr int kPermutationRepeats = 5;

// Every (run, fold, feature) of a search whose combinations include metadata; empty otherwise.
std::vector<FeatureImportance> metadata_importance(const Dataset& data,
                                                   const SearchSettings& settings);
// importance.csv: run, fold, feature, mean_abs_contribution, scale, permutation_qwk_drop,
// permutations.
void write_importance_csv(const std::vector<FeatureImportance>& rows, const std::string& path);
// The file's name in a search's output folder.
inline constexpr char kImportanceFile[] = "importance.csv";

}  // namespace woundphase
