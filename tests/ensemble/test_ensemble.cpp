#include <gtest/gtest.h>

#include <algorithm>  // for max_element
#include <array>
#include <cmath>       // for exp, log, isnan, cos, sqrt
#include <cstring>     // for memcmp
#include <functional>  // for function
#include <limits>      // for quiet_NaN
#include <random>      // for mt19937_64
#include <stdexcept>
#include <string>
#include <vector>

#include "ensemble/optimise.h"  // for minimise_lbfgs
#include "fixtures/errors.h"
#include "woundphase/ensemble.h"

namespace woundphase {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

// Portable normal deviates (mt19937_64's output is fixed by the standard; its distributions not).
class Rng {
 public:
  explicit Rng(unsigned long long seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
  int label() { return static_cast<int>(engine_() % kNumClasses); }

 private:
  std::mt19937_64 engine_;
};

// Softmax of `strength` on class `hot` plus Gaussian noise of scale `noise` on every logit.
std::array<double, kNumClasses> noisy_probs(Rng& rng, int hot, double strength, double noise) {
  std::array<double, kNumClasses> z{};
  for (int c = 0; c < kNumClasses; ++c) z[c] = noise * rng.normal() + (c == hot ? strength : 0.0);
  const double top = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (double& v : z) sum += v = std::exp(v - top);
  for (double& v : z) v /= sum;
  return z;
}

void append(Probabilities& p, const std::array<double, kNumClasses>& row) {
  p.insert(p.end(), row.begin(), row.end());
}

void append_missing(Probabilities& p) { p.insert(p.end(), kNumClasses, kNaN); }

struct Problem {
  MemberPredictions members;
  std::vector<int> labels;
  std::vector<int> subset;  // scenario-specific tag per sample
};

// `n` samples of random classes predicted by two members: `sample(rng, y, p)` appends each
// member's row for a sample of class `y` (and may tag its subset).
Problem two_members(int n, unsigned long long seed,
                    const std::function<void(Rng&, int, Problem&)>& sample) {
  Rng rng(seed);
  Problem p;
  p.members.count = n;
  p.members.probs.resize(2);
  for (int i = 0; i < n; ++i) {
    const int y = rng.label();
    p.labels.push_back(y);
    sample(rng, y, p);
  }
  return p;
}

// Member 0 is informative; member 1 is confident noise. `missing1` is the share of samples member
// 1 does not predict.
Problem informative_vs_noise(int n, unsigned long long seed, double missing1 = 0.0) {
  return two_members(n, seed, [missing1](Rng& rng, int y, Problem& p) {
    append(p.members.probs[0], noisy_probs(rng, y, 2.0, 1.0));
    if (rng.uniform() < missing1) {
      append_missing(p.members.probs[1]);
    } else {
      append(p.members.probs[1], noisy_probs(rng, 0, 0.0, 2.0));
    }
  });
}

// Member 0 is strong but its classes are reversed (I and R swapped: an ordinal flip); member 1 is
// weak and correct. Averaging them is harmful; a stacker can undo the permutation.
Problem permuted_member(int n, unsigned long long seed) {
  static constexpr std::array<int, kNumClasses> kFlip{2, 1, 0};
  return two_members(n, seed, [](Rng& rng, int y, Problem& p) {
    append(p.members.probs[0], noisy_probs(rng, kFlip[y], 3.0, 0.7));
    append(p.members.probs[1], noisy_probs(rng, y, 0.7, 0.7));
  });
}

// Subset 0: member 0 is confident and right, member 1 confident and wrong. Subset 1: member 0 is
// unsure, member 1 confident and right. No fixed weighting works on both; a gate reading member
// 0's confidence does.
Problem confident_and_wrong(int n, unsigned long long seed) {
  return two_members(n, seed, [](Rng& rng, int y, Problem& p) {
    const int subset = rng.uniform() < 0.5 ? 0 : 1;
    p.subset.push_back(subset);
    const int wrong = (y + 1 + static_cast<int>(rng.uniform() * 2.0)) % kNumClasses;
    if (subset == 0) {
      append(p.members.probs[0], noisy_probs(rng, y, 3.0, 0.3));
      append(p.members.probs[1], noisy_probs(rng, wrong, 3.0, 0.3));
    } else {
      append(p.members.probs[0], noisy_probs(rng, y, 0.3, 0.3));
      append(p.members.probs[1], noisy_probs(rng, y, 3.0, 0.3));
    }
  });
}

double log_loss(const Probabilities& p, const std::vector<int>& labels) {
  double s = 0.0;
  for (size_t i = 0; i < labels.size(); ++i)
    s -= std::log(std::max(p[i * kNumClasses + labels[i]], 1e-7));
  return s / labels.size();
}

// Share of samples (optionally only those tagged `subset`) whose argmax is the label.
double accuracy(const Probabilities& p, const Problem& problem, int subset = -1) {
  int hits = 0;
  int total = 0;
  for (size_t i = 0; i < problem.labels.size(); ++i) {
    if (subset >= 0 && problem.subset[i] != subset) continue;
    const double* row = p.data() + i * kNumClasses;
    hits += (std::max_element(row, row + kNumClasses) - row) == problem.labels[i] ? 1 : 0;
    ++total;
  }
  return static_cast<double>(hits) / total;
}

EnsembleSettings settings_for(EnsembleKind kind) {
  EnsembleSettings s;
  s.kind = kind;
  return s;
}

Ensemble fit(EnsembleKind kind, const Problem& p) {
  return Ensemble::fit(settings_for(kind), p.members, p.labels);
}

void expect_rows_are_distributions(const Probabilities& p) {
  for (size_t i = 0; i < p.size() / kNumClasses; ++i) {
    double sum = 0.0;
    for (int c = 0; c < kNumClasses; ++c) {
      const double v = p[i * kNumClasses + c];
      ASSERT_TRUE(v >= 0.0 && v <= 1.0) << "row " << i;
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9) << "row " << i;
  }
}

constexpr std::array<EnsembleKind, 4> kFittedKinds{EnsembleKind::kAverage, EnsembleKind::kWeighted,
                                                   EnsembleKind::kStacking, EnsembleKind::kGating};

TEST(EnsembleKind, ParsesEveryNameAndListsChoices) {
  for (const char* name : {"none", "average", "weighted", "stacking", "gating"})
    EXPECT_STREQ(to_string(parse_ensemble(name)), name);
  const std::string what = testing::input_error_of([] { parse_ensemble("median"); });
  EXPECT_NE(what.find("--ensemble"), std::string::npos) << what;
  EXPECT_NE(what.find("none, average, weighted, stacking, gating"), std::string::npos) << what;
}

TEST(EnsembleSettings, ValidateNamesTheOption) {
  EnsembleSettings s;
  EXPECT_NO_THROW(s.validate());
  s.l2 = -1.0;
  EXPECT_NE(testing::input_error_of([&] { s.validate(); }).find("--ensemble-l2"),
            std::string::npos);
  s.l2 = kNaN;
  EXPECT_THROW(s.validate(), InputError);
  s.l2 = 1e-2;
  s.iterations = 5;
  EXPECT_NE(testing::input_error_of([&] { s.validate(); }).find("--ensemble-iterations"),
            std::string::npos);
}

TEST(Optimise, LbfgsFindsTheRosenbrockMinimum) {
  auto rosenbrock = [](const std::vector<double>& x, std::vector<double>& g) {
    const double a = 1.0 - x[0];
    const double b = x[1] - x[0] * x[0];
    g[0] = -2.0 * a - 400.0 * x[0] * b;
    g[1] = 200.0 * b;
    return a * a + 100.0 * b * b;
  };
  const auto r = ensemble_detail::minimise_lbfgs(rosenbrock, {-1.2, 1.0}, 1000);
  EXPECT_NEAR(r.x[0], 1.0, 1e-5);
  EXPECT_NEAR(r.x[1], 1.0, 1e-5);
  EXPECT_LT(r.value, 1e-10);
}

TEST(Average, IsTheMeanAndRenormalisesOverMissingMembers) {
  MemberPredictions mp;
  mp.count = 2;
  mp.probs = {{0.6, 0.3, 0.1, 0.2, 0.2, 0.6},
              {0.2, 0.5, 0.3, kNaN, kNaN, kNaN},
              {0.1, 0.1, 0.8, 0.5, 0.4, 0.1}};
  const Ensemble e = Ensemble::fit(settings_for(EnsembleKind::kAverage), mp, {0, 2});
  const Probabilities p = e.predict(mp);
  ASSERT_EQ(p.size(), 6u);
  EXPECT_NEAR(p[0], (0.6 + 0.2 + 0.1) / 3, 1e-15);
  EXPECT_NEAR(p[1], (0.3 + 0.5 + 0.1) / 3, 1e-15);
  EXPECT_NEAR(p[2], (0.1 + 0.3 + 0.8) / 3, 1e-15);
  // Sample 1: member 1 is missing, so the mean is over members 0 and 2 only.
  EXPECT_NEAR(p[3], (0.2 + 0.5) / 2, 1e-15);
  EXPECT_NEAR(p[4], (0.2 + 0.4) / 2, 1e-15);
  EXPECT_NEAR(p[5], (0.6 + 0.1) / 2, 1e-15);
  const auto w = e.member_weights();
  ASSERT_EQ(w.size(), 3u);
  for (double v : w) EXPECT_DOUBLE_EQ(v, 1.0 / 3);
  EXPECT_EQ(e.members(), 3);
  EXPECT_EQ(e.kind(), EnsembleKind::kAverage);
}

TEST(Weighted, TrustsTheInformativeMemberAndBeatsTheAverage) {
  const Problem train = informative_vs_noise(600, 1);
  const Problem test = informative_vs_noise(600, 2);
  const Ensemble weighted = fit(EnsembleKind::kWeighted, train);
  const Ensemble average = fit(EnsembleKind::kAverage, train);
  const auto w = weighted.member_weights();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_GT(w[0], 0.8);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-12);
  const Probabilities pw = weighted.predict(test.members);
  expect_rows_are_distributions(pw);
  EXPECT_LT(log_loss(pw, test.labels), log_loss(average.predict(test.members), test.labels) - 0.1);
}

TEST(Stacking, UndoesAPermutedMemberAndBeatsTheAverage) {
  const Problem train = permuted_member(600, 3);
  const Problem test = permuted_member(600, 4);
  const Ensemble stacking = fit(EnsembleKind::kStacking, train);
  const Probabilities ps = stacking.predict(test.members);
  expect_rows_are_distributions(ps);
  const Probabilities pa = fit(EnsembleKind::kAverage, train).predict(test.members);
  EXPECT_GT(accuracy(ps, test), 0.9);
  EXPECT_LT(accuracy(pa, test), 0.6);
  EXPECT_LT(log_loss(ps, test.labels), log_loss(pa, test.labels) - 0.5);
  // The strong (permuted) member carries most of the stacker's coefficients.
  const auto w = stacking.member_weights();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_GT(w[0], w[1]);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-12);
}

TEST(Gating, TrustsTheMemberThatIsConfidentAndRight) {
  const Problem train = confident_and_wrong(800, 5);
  const Problem test = confident_and_wrong(800, 6);
  const Ensemble gating = fit(EnsembleKind::kGating, train);
  const Probabilities pg = gating.predict(test.members);
  expect_rows_are_distributions(pg);
  const Probabilities pw = fit(EnsembleKind::kWeighted, train).predict(test.members);
  const Probabilities pa = fit(EnsembleKind::kAverage, train).predict(test.members);
  // Right on both subsets: member 0 where it is confident, member 1 where member 0 is unsure.
  EXPECT_GT(accuracy(pg, test, 0), 0.9);
  EXPECT_GT(accuracy(pg, test, 1), 0.9);
  EXPECT_LT(log_loss(pg, test.labels), log_loss(pw, test.labels) - 0.2);
  EXPECT_LT(log_loss(pg, test.labels), log_loss(pa, test.labels) - 0.2);
  const auto w = gating.member_weights();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-12);
}

TEST(Ensemble, FitsAndPredictsWithMissingMembers) {
  const Problem train = informative_vs_noise(400, 7, 0.3);
  const Problem test = informative_vs_noise(300, 8, 0.3);
  for (EnsembleKind kind : kFittedKinds) {
    SCOPED_TRACE(to_string(kind));
    const Ensemble e = fit(kind, train);
    const Probabilities p = e.predict(test.members);
    expect_rows_are_distributions(p);
    if (kind == EnsembleKind::kStacking) continue;
    // The mixtures renormalise over the available members: member 0 alone gives its own row.
    for (int i = 0; i < test.members.count; ++i) {
      if (!std::isnan(test.members.probs[1][i * kNumClasses])) continue;
      for (int c = 0; c < kNumClasses; ++c)
        EXPECT_DOUBLE_EQ(p[i * kNumClasses + c], test.members.probs[0][i * kNumClasses + c]);
    }
  }
  // Stacking still beats averaging with a noise member that is sometimes absent.
  const Probabilities ps = fit(EnsembleKind::kStacking, train).predict(test.members);
  const Probabilities pa = fit(EnsembleKind::kAverage, train).predict(test.members);
  EXPECT_LT(log_loss(ps, test.labels), log_loss(pa, test.labels));
}

TEST(Ensemble, SampleWithoutMembersGetsANaNRow) {
  const Problem train = informative_vs_noise(200, 9);
  MemberPredictions mp;
  mp.count = 2;
  mp.probs = {{0.7, 0.2, 0.1, kNaN, kNaN, kNaN}, {0.3, 0.3, 0.4, kNaN, kNaN, kNaN}};
  for (EnsembleKind kind : kFittedKinds) {
    SCOPED_TRACE(to_string(kind));
    const Probabilities p = fit(kind, train).predict(mp);
    ASSERT_EQ(p.size(), 6u);
    for (int c = 0; c < kNumClasses; ++c) {
      EXPECT_FALSE(std::isnan(p[c]));
      EXPECT_TRUE(std::isnan(p[kNumClasses + c]));
    }
  }
}

TEST(Ensemble, JsonRoundTripGivesBitIdenticalPredictions) {
  const Problem train = confident_and_wrong(300, 10);
  Problem test = informative_vs_noise(100, 11, 0.2);
  for (int c = 0; c < kNumClasses; ++c) {  // one sample no member predicts
    test.members.probs[0][c] = kNaN;
    test.members.probs[1][c] = kNaN;
  }
  for (EnsembleKind kind : kFittedKinds) {
    SCOPED_TRACE(to_string(kind));
    const Ensemble e = fit(kind, train);
    const Ensemble back = Ensemble::from_json(nlohmann::json::parse(e.to_json().dump()));
    EXPECT_EQ(back.kind(), kind);
    EXPECT_EQ(back.members(), 2);
    EXPECT_EQ(back.to_json(), e.to_json());
    EXPECT_EQ(back.member_weights(), e.member_weights());
    const Probabilities a = e.predict(test.members);
    const Probabilities b = back.predict(test.members);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0);
  }
}

TEST(Ensemble, SameSeedSameParameters) {
  const Problem train = permuted_member(300, 12);
  for (EnsembleKind kind :
       {EnsembleKind::kWeighted, EnsembleKind::kStacking, EnsembleKind::kGating}) {
    SCOPED_TRACE(to_string(kind));
    EnsembleSettings s = settings_for(kind);
    s.seed = 7;
    EXPECT_EQ(Ensemble::fit(s, train.members, train.labels).to_json(),
              Ensemble::fit(s, train.members, train.labels).to_json());
  }
}

TEST(Stacking, OptimumDoesNotDependOnTheSeed) {
  // With l2 > 0 the stacker's objective is strictly convex: any start reaches the same optimum.
  const Problem train = permuted_member(300, 13);
  EnsembleSettings s = settings_for(EnsembleKind::kStacking);
  s.seed = 1;
  const Probabilities a = Ensemble::fit(s, train.members, train.labels).predict(train.members);
  s.seed = 2;
  const Probabilities b = Ensemble::fit(s, train.members, train.labels).predict(train.members);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6);
}

TEST(Ensemble, StrongerPenaltyPullsWeightsTogether) {
  const Problem train = informative_vs_noise(300, 14);
  EnsembleSettings s = settings_for(EnsembleKind::kWeighted);
  s.l2 = 0.0;
  const double free_weight = Ensemble::fit(s, train.members, train.labels).member_weights()[0];
  s.l2 = 100.0;
  const double tied_weight = Ensemble::fit(s, train.members, train.labels).member_weights()[0];
  EXPECT_GT(free_weight, tied_weight);
  EXPECT_NEAR(tied_weight, 0.5, 0.05);
}

// The documented objective, recomputed from the outside: class-balanced mean log loss of the
// predictions plus l2 * ||params||^2 (stacking's trailing kNumClasses intercepts unpenalised).
double objective(const Ensemble& e, const Problem& p, double l2) {
  std::array<double, kNumClasses> counts{};
  for (int y : p.labels) counts[y] += 1.0;
  const Probabilities pred = e.predict(p.members);
  double f = 0.0;
  for (size_t i = 0; i < p.labels.size(); ++i)
    f -= std::log(pred[i * kNumClasses + p.labels[i]]) / (kNumClasses * counts[p.labels[i]]);
  const std::vector<double> params = e.to_json()["params"].get<std::vector<double>>();
  const size_t penalised = params.size() - (e.kind() == EnsembleKind::kStacking ? kNumClasses : 0);
  for (size_t j = 0; j < penalised; ++j) f += l2 * params[j] * params[j];
  return f;
}

TEST(Ensemble, FittedParametersMinimiseTheObjective) {
  const Problem train = confident_and_wrong(300, 16);
  for (EnsembleKind kind :
       {EnsembleKind::kWeighted, EnsembleKind::kStacking, EnsembleKind::kGating}) {
    SCOPED_TRACE(to_string(kind));
    const EnsembleSettings s = settings_for(kind);
    const Ensemble e = Ensemble::fit(s, train.members, train.labels);
    const double best = objective(e, train, s.l2);
    const nlohmann::json j = e.to_json();
    for (size_t k = 0; k < j["params"].size(); ++k) {
      for (double step : {-1e-3, 1e-3}) {
        nlohmann::json moved = j;
        moved["params"][k] = j["params"][k].get<double>() + step;
        EXPECT_GE(objective(Ensemble::from_json(moved), train, s.l2), best - 1e-12)
            << "param " << k << " step " << step;
      }
    }
  }
}

TEST(Ensemble, FitRejectsBadInput) {
  const EnsembleSettings s = settings_for(EnsembleKind::kWeighted);
  MemberPredictions ok;
  ok.count = 2;
  ok.probs = {{0.6, 0.3, 0.1, 0.2, 0.2, 0.6}, {0.2, 0.5, 0.3, kNaN, kNaN, kNaN}};
  const std::vector<int> labels{0, 2};
  EXPECT_NO_THROW(Ensemble::fit(s, ok, labels));

  MemberPredictions none = ok;
  none.probs.clear();
  EXPECT_THROW(Ensemble::fit(s, none, labels), InputError);
  MemberPredictions empty;
  empty.count = 0;
  empty.probs = {{}, {}};
  EXPECT_THROW(Ensemble::fit(s, empty, {}), InputError);
  MemberPredictions ragged = ok;
  ragged.probs[1].resize(3);
  EXPECT_THROW(Ensemble::fit(s, ragged, labels), InputError);
  EXPECT_THROW(Ensemble::fit(s, ok, {0}), InputError);
  EXPECT_THROW(Ensemble::fit(s, ok, {0, 3}), InputError);
  EXPECT_THROW(Ensemble::fit(s, ok, {-1, 0}), InputError);
  MemberPredictions orphan = ok;
  for (int c = 0; c < kNumClasses; ++c) orphan.probs[0][kNumClasses + c] = kNaN;
  EXPECT_THROW(Ensemble::fit(s, orphan, labels), InputError);
  MemberPredictions partial = ok;
  partial.probs[0][1] = kNaN;
  EXPECT_THROW(Ensemble::fit(s, partial, labels), InputError);
  MemberPredictions negative = ok;
  negative.probs[0][0] = -0.1;
  EXPECT_THROW(Ensemble::fit(s, negative, labels), InputError);
  EnsembleSettings bad = s;
  bad.l2 = 1000.0;
  EXPECT_THROW(Ensemble::fit(bad, ok, labels), InputError);
  EXPECT_THROW(Ensemble::fit(settings_for(EnsembleKind::kNone), ok, labels), std::invalid_argument);

  const Ensemble e = Ensemble::fit(s, ok, labels);
  MemberPredictions three = ok;
  three.probs.push_back(ok.probs[0]);
  EXPECT_THROW(e.predict(three), InputError);
  EXPECT_THROW(e.predict(ragged), InputError);
}

TEST(Ensemble, FromJsonRejectsMalformedDocuments) {
  const Problem train = informative_vs_noise(100, 15);
  const nlohmann::json good = fit(EnsembleKind::kStacking, train).to_json();
  EXPECT_NO_THROW(Ensemble::from_json(good));

  EXPECT_THROW(Ensemble::from_json(nlohmann::json::array()), InputError);
  auto j = good;
  j["kind"] = "median";
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["kind"] = 3;
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["params"].erase(0);
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["kind"] = "weighted";  // stacking's parameters do not fit a weighted ensemble
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["params"][0] = "x";
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["members"] = 0;
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["members"] = 3;
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j.erase("member_weights");
  EXPECT_THROW(Ensemble::from_json(j), InputError);
  j = good;
  j["format"] = 99;
  EXPECT_THROW(Ensemble::from_json(j), InputError);
}

}  // namespace
}  // namespace woundphase
