// Forest fit/predict cost at the DFU metadata's size: ~560 visit-wounds x 57 features, 300 trees
// (the predecessor's setting), 2 threads. A search does ~15 such fits per run.
#include <benchmark/benchmark.h>

#include <cstdint>  // for uint64_t
#include <vector>

#include "woundphase/tabular.h"

namespace {

using woundphase::ForestSettings;
using woundphase::Matrix;
using woundphase::TabularData;

// DFU-like table: 560 rows, 57 features (a third with few distinct values, as the clinical
// codes), 8% missing, ~110 patients, class driven by a few features plus noise.
constexpr size_t kRows = 560;
constexpr size_t kFeatures = 57;
constexpr int kRowsPerPatient = 5;
constexpr double kMissingRate = 0.08;

uint64_t next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
double uniform(uint64_t& state) { return static_cast<double>(next(state) >> 11) * 0x1.0p-53; }

TabularData dfu_like(uint64_t seed) {
  uint64_t st = seed;
  TabularData d;
  d.x = Matrix(kRows, kFeatures);
  d.y.resize(kRows);
  d.group.resize(kRows);
  for (size_t i = 0; i < kRows; ++i) {
    for (size_t f = 0; f < kFeatures; ++f) {
      double v = uniform(st);
      if (f % 3 == 0) v = static_cast<int>(v * 5);  // categorical-like codes
      d.x.at(i, f) = uniform(st) < kMissingRate ? woundphase::kMissing : static_cast<float>(v);
    }
    const double score = uniform(st) + 0.8 * (d.x.at(i, 1) > 0.5F) + 0.6 * (d.x.at(i, 2) > 0.3F);
    d.y[i] = score < 0.9 ? 0 : (score < 1.6 ? 1 : 2);
    d.group[i] = static_cast<int>(i) / kRowsPerPatient;
  }
  return d;
}

ForestSettings predecessor_settings() {
  ForestSettings s;  // defaults: 300 trees, depth 10, min leaf 5, min split 10, balanced
  s.threads = 2;
  return s;
}

void BM_ForestFit(benchmark::State& state) {
  const TabularData data = dfu_like(1);
  const ForestSettings s = predecessor_settings();
  for (auto _ : state) {
    auto forest = woundphase::make_forest(s);
    forest->fit(data);
    benchmark::DoNotOptimize(forest);
  }
}
BENCHMARK(BM_ForestFit)->Unit(benchmark::kMillisecond)->UseRealTime();

// Predicting 560 rows with a fitted 300-tree forest.
void BM_ForestPredict(benchmark::State& state) {
  const TabularData data = dfu_like(1);
  const TabularData test = dfu_like(2);
  auto forest = woundphase::make_forest(predecessor_settings());
  forest->fit(data);
  for (auto _ : state) benchmark::DoNotOptimize(forest->predict(test.x));
}
BENCHMARK(BM_ForestPredict)->Unit(benchmark::kMillisecond)->UseRealTime();

// What a search run spends in the forest: 15 fits (5 folds x 3 combinations using metadata),
// each read out of bag and asked for its ~110 test rows.
constexpr int kSearchFits = 15;
constexpr size_t kTestRows = 110;

void BM_Search15Fits(benchmark::State& state) {
  const TabularData data = dfu_like(1);
  const TabularData test_pool = dfu_like(2);
  std::vector<int> test_rows(kTestRows);
  for (size_t i = 0; i < kTestRows; ++i) test_rows[i] = static_cast<int>(i);
  const Matrix test = test_pool.x.select_rows(test_rows);
  ForestSettings s = predecessor_settings();
  for (auto _ : state) {
    for (int fit = 0; fit < kSearchFits; ++fit) {
      s.seed = static_cast<unsigned long long>(fit);
      auto forest = woundphase::make_forest(s);
      forest->fit(data);
      std::vector<bool> covered;
      benchmark::DoNotOptimize(forest->oob(&covered));
      benchmark::DoNotOptimize(forest->predict(test));
    }
  }
}
BENCHMARK(BM_Search15Fits)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ForestFitThreads(benchmark::State& state) {
  const TabularData data = dfu_like(1);
  ForestSettings s = predecessor_settings();
  s.threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto forest = woundphase::make_forest(s);
    forest->fit(data);
    benchmark::DoNotOptimize(forest);
  }
}
BENCHMARK(BM_ForestFitThreads)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
