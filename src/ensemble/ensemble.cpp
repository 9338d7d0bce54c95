#include "woundphase/ensemble.h"

#include <algorithm>  // for max, max_element
#include <array>
#include <cmath>      // for exp, isfinite, isnan, log
#include <cstddef>    // for size_t
#include <limits>     // for quiet_NaN
#include <stdexcept>  // for invalid_argument
#include <string>

#include "ensemble/optimise.h"  // for minimise_lbfgs
#include "woundphase/class_weights.h"
#include "woundphase/options.h"

namespace woundphase {

namespace {

using Json = nlohmann::json;

// Probabilities are clamped to this before a logarithm (a member that says 0 must not cost inf).
constexpr double kProbFloor = 1e-7;
// Members' probabilities may exceed 1 by this much (float rounding upstream) and still count.
constexpr double kProbTolerance = 1e-6;
// Stacking inputs per member: its kNumClasses log-probabilities and its availability indicator.
constexpr int kStackPerMember = kNumClasses + 1;
// Gate inputs per member: availability (the member's own bias), max probability, entropy.
constexpr int kGatePerMember = 3;
// Stacking and gating start from this much seeded jitter around 0 (0 is the average / an
// uninformed stacker; the jitter only makes the seed the documented source of the start point).
constexpr double kInitJitter = 1e-3;
// Bounds of EnsembleSettings (see the header).
constexpr double kMaxL2 = 100.0;
constexpr int kMinIterations = 10;
constexpr int kMaxIterations = 100000;
// Most members a JSON document may declare: far above any search's number of combinations, and
// guards the sizes computed from it.
constexpr long long kMaxMembers = 1 << 20;
// Version of the JSON layout written by to_json(); bumped when the layout changes.
constexpr int kJsonFormatVersion = 1;

struct KindName {
  EnsembleKind kind;
  const char* name;
};
constexpr std::array<KindName, 5> kKindNames{{{EnsembleKind::kNone, "none"},
                                              {EnsembleKind::kAverage, "average"},
                                              {EnsembleKind::kWeighted, "weighted"},
                                              {EnsembleKind::kStacking, "stacking"},
                                              {EnsembleKind::kGating, "gating"}}};

// Member predictions after checking their shape, with each member's availability per sample.
struct Inputs {
  const MemberPredictions* data = nullptr;
  int count = 0;
  int members = 0;
  std::vector<unsigned char> available;  // [i * members + m]

  bool has(int i, int m) const { return available[static_cast<size_t>(i) * members + m] != 0; }
  double p(int m, int i, int c) const {
    return data->probs[m][static_cast<size_t>(i) * kNumClasses + c];
  }
  bool any(int i) const {
    for (int m = 0; m < members; ++m)
      if (has(i, m)) return true;
    return false;
  }
};

// Checks sizes and values; a member's sample is missing when all its entries are NaN.
Inputs check_members(const MemberPredictions& mp, const char* what) {
  if (mp.probs.empty()) throw InputError(std::string(what) + ": no member predictions");
  if (mp.count < 0) throw InputError(std::string(what) + ": negative sample count");
  Inputs in;
  in.data = &mp;
  in.count = mp.count;
  in.members = static_cast<int>(mp.probs.size());
  const size_t expected = static_cast<size_t>(mp.count) * kNumClasses;
  for (int m = 0; m < in.members; ++m)
    if (mp.probs[m].size() != expected)
      throw InputError(std::string(what) + ": member " + std::to_string(m) + " has " +
                       std::to_string(mp.probs[m].size()) + " probabilities, expected " +
                       std::to_string(expected) + " (" + std::to_string(mp.count) + " samples x " +
                       std::to_string(kNumClasses) + " classes)");
  in.available.assign(static_cast<size_t>(mp.count) * in.members, 0);
  for (int i = 0; i < mp.count; ++i) {
    for (int m = 0; m < in.members; ++m) {
      int nans = 0;
      for (int c = 0; c < kNumClasses; ++c) {
        const double v = in.p(m, i, c);
        if (std::isnan(v)) {
          ++nans;
          continue;
        }
        if (!(v >= 0.0 && v <= 1.0 + kProbTolerance))
          throw InputError(std::string(what) + ": member " + std::to_string(m) + " sample " +
                           std::to_string(i) + " has probability " + std::to_string(v) +
                           " outside [0, 1]");
      }
      if (nans != 0 && nans != kNumClasses)
        throw InputError(std::string(what) + ": member " + std::to_string(m) + " sample " +
                         std::to_string(i) + " is NaN in some classes only");
      in.available[static_cast<size_t>(i) * in.members + m] = nans == 0 ? 1 : 0;
    }
  }
  return in;
}

size_t param_count(EnsembleKind kind, int members) {
  const size_t m = static_cast<size_t>(members);
  switch (kind) {
    case EnsembleKind::kNone:
    case EnsembleKind::kAverage:
      return 0;
    case EnsembleKind::kWeighted:
      return m;
    case EnsembleKind::kStacking:
      // Coefficients [class][member feature], then one intercept per class.
      return kNumClasses * (m * kStackPerMember) + kNumClasses;
    case EnsembleKind::kGating:
      return m * kGatePerMember;
  }
  return 0;
}

// ---- the mixtures (weighted, gating): output = sum over available members of gate * probs ----

// Gate inputs of member m for sample i (only called for an available member).
std::array<double, kGatePerMember> gate_features(const Inputs& in, int i, int m) {
  double max_p = 0.0;
  double entropy = 0.0;
  for (int c = 0; c < kNumClasses; ++c) {
    const double p = in.p(m, i, c);
    max_p = std::max(max_p, p);
    if (p > 0.0) entropy -= p * std::log(p);
  }
  // Normalised to [0, 1] so the three inputs share a scale.
  static const double kMaxEntropy = std::log(static_cast<double>(kNumClasses));
  return {1.0, max_p, entropy / kMaxEntropy};
}

// Gate logit of member m for sample i: weighted uses one free logit per member; gating a
// per-member linear map of the member's features, so it can learn both a standing preference
// (the availability coefficient) and how far each member's own confidence is to be trusted.
double gate_logit(EnsembleKind kind, const std::vector<double>& params, const Inputs& in, int i,
                  int m) {
  if (kind == EnsembleKind::kWeighted) return params[m];
  const auto f = gate_features(in, i, m);
  double z = 0.0;
  for (int k = 0; k < kGatePerMember; ++k) z += params[m * kGatePerMember + k] * f[k];
  return z;
}

// Softmax of the gate logits over the members available for sample i (0 for the others).
void gate(EnsembleKind kind, const std::vector<double>& params, const Inputs& in, int i,
          std::vector<double>& g) {
  g.assign(in.members, 0.0);
  double top = -std::numeric_limits<double>::infinity();
  for (int m = 0; m < in.members; ++m)
    if (in.has(i, m)) {
      g[m] = gate_logit(kind, params, in, i, m);
      top = std::max(top, g[m]);
    }
  double sum = 0.0;
  for (int m = 0; m < in.members; ++m) {
    g[m] = in.has(i, m) ? std::exp(g[m] - top) : 0.0;
    sum += g[m];
  }
  for (double& v : g) v /= sum;
}

// ---- stacking: multinomial logistic regression on the members' log-probabilities ------------

size_t stack_features(int members) { return static_cast<size_t>(members) * kStackPerMember; }

void stack_inputs(const Inputs& in, int i, std::vector<double>& x) {
  x.assign(stack_features(in.members), 0.0);
  for (int m = 0; m < in.members; ++m) {
    if (!in.has(i, m)) continue;  // log-probabilities and indicator stay 0
    double* xm = x.data() + static_cast<size_t>(m) * kStackPerMember;
    for (int c = 0; c < kNumClasses; ++c) xm[c] = std::log(std::max(in.p(m, i, c), kProbFloor));
    xm[kNumClasses] = 1.0;
  }
}

// Class scores z = W x + b and their softmax written into `p`.
void stack_scores(const std::vector<double>& params, const std::vector<double>& x,
                  std::array<double, kNumClasses>& z, std::array<double, kNumClasses>& p) {
  const size_t d = x.size();
  const double* bias = params.data() + kNumClasses * d;
  double top = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < kNumClasses; ++c) {
    const double* w = params.data() + c * d;
    double s = bias[c];
    for (size_t j = 0; j < d; ++j) s += w[j] * x[j];
    z[c] = s;
    top = std::max(top, s);
  }
  double sum = 0.0;
  for (int c = 0; c < kNumClasses; ++c) {
    p[c] = std::exp(z[c] - top);
    sum += p[c];
  }
  for (double& v : p) v /= sum;
}

// ---- fitting ---------------------------------------------------------------------------------

// Class-balanced sample weights (balanced_class_weights, class_weights.h) that sum to 1, so the
// objective is a weighted mean and l2 means the same at every sample size.
std::vector<double> balanced_weights(const std::vector<int>& labels) {
  const std::vector<double> per_class =
      balanced_class_weights(labels, {}, kNumClasses, WeightScale::kSumOne);
  std::vector<double> w(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) w[i] = per_class[labels[i]];
  return w;
}

// Seeded start point in [-kInitJitter, kInitJitter] (portable: splitmix64, not <random>).
std::vector<double> jitter(size_t n, unsigned long long seed) {
  std::vector<double> x(n);
  for (size_t j = 0; j < n; ++j) {
    const double u = static_cast<double>(mix_seed(seed, j) >> 11) * 0x1.0p-53;  // [0, 1)
    x[j] = kInitJitter * (2.0 * u - 1.0);
  }
  return x;
}

ensemble_detail::OptimiseResult fit_mixture(EnsembleKind kind, const EnsembleSettings& settings,
                                            const Inputs& in, const std::vector<int>& labels) {
  const std::vector<double> w = balanced_weights(labels);
  const size_t n_params = param_count(kind, in.members);
  // Weighted starts from equal weights (logits 0); gating from a seeded near-uniform gate.
  std::vector<double> x0 = kind == EnsembleKind::kWeighted ? std::vector<double>(n_params, 0.0)
                                                           : jitter(n_params, settings.seed);
  const double l2 = settings.l2;
  auto objective = [&](const std::vector<double>& x, std::vector<double>& grad) {
    // The penalty covers every parameter: a softmax over members is unchanged by a shift of all
    // logits, and the penalty picks the smallest of those equivalent solutions.
    double f = 0.0;
    for (size_t j = 0; j < x.size(); ++j) {
      f += l2 * x[j] * x[j];
      grad[j] = 2.0 * l2 * x[j];
    }
    std::vector<double> g;
    for (int i = 0; i < in.count; ++i) {
      gate(kind, x, in, i, g);
      const int y = labels[i];
      double q = 0.0;
      for (int m = 0; m < in.members; ++m)
        if (g[m] > 0.0) q += g[m] * in.p(m, i, y);
      if (q <= kProbFloor) {
        // Every available member gives the true class ~0: the loss is flat (clamped) here.
        f -= w[i] * std::log(kProbFloor);
        continue;
      }
      f -= w[i] * std::log(q);
      for (int m = 0; m < in.members; ++m) {
        if (!in.has(i, m)) continue;
        // d(-log q)/d logit_m = -g_m (p_my - q) / q.
        const double dz = -w[i] * g[m] * (in.p(m, i, y) - q) / q;
        if (kind == EnsembleKind::kWeighted) {
          grad[m] += dz;
          continue;
        }
        const auto feat = gate_features(in, i, m);
        for (int k = 0; k < kGatePerMember; ++k) grad[m * kGatePerMember + k] += dz * feat[k];
      }
    }
    return f;
  };
  return ensemble_detail::minimise_lbfgs(objective, std::move(x0), settings.iterations);
}

ensemble_detail::OptimiseResult fit_stacking(const EnsembleSettings& settings, const Inputs& in,
                                             const std::vector<int>& labels) {
  const std::vector<double> w = balanced_weights(labels);
  const size_t d = stack_features(in.members);
  std::vector<std::vector<double>> xs(in.count);
  for (int i = 0; i < in.count; ++i) stack_inputs(in, i, xs[i]);
  const double l2 = settings.l2;
  auto objective = [&](const std::vector<double>& x, std::vector<double>& grad) {
    double f = 0.0;
    const size_t n_coef = kNumClasses * d;  // intercepts (after the coefficients) go unpenalised
    for (size_t j = 0; j < grad.size(); ++j) {
      const bool coefficient = j < n_coef;
      f += coefficient ? l2 * x[j] * x[j] : 0.0;
      grad[j] = coefficient ? 2.0 * l2 * x[j] : 0.0;
    }
    std::array<double, kNumClasses> z{};
    std::array<double, kNumClasses> p{};
    for (int i = 0; i < in.count; ++i) {
      stack_scores(x, xs[i], z, p);
      const int y = labels[i];
      f -= w[i] * std::log(std::max(p[y], std::numeric_limits<double>::min()));
      for (int c = 0; c < kNumClasses; ++c) {
        const double dz = w[i] * (p[c] - (c == y ? 1.0 : 0.0));
        double* gw = grad.data() + c * d;
        for (size_t j = 0; j < d; ++j) gw[j] += dz * xs[i][j];
        grad[n_coef + c] += dz;
      }
    }
    return f;
  };
  return ensemble_detail::minimise_lbfgs(
      objective, jitter(param_count(EnsembleKind::kStacking, in.members), settings.seed),
      settings.iterations);
}

std::vector<double> softmax(const std::vector<double>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> out(logits.size());
  double sum = 0.0;
  for (size_t m = 0; m < logits.size(); ++m) sum += out[m] = std::exp(logits[m] - top);
  for (double& v : out) v /= sum;
  return out;
}

std::vector<double> equal_weights(int members) {
  return std::vector<double>(members, 1.0 / members);
}

// Share of each member in the stacker's coefficients on its log-probabilities (centred over the
// classes first: adding a constant to one input's coefficients in every class changes nothing).
std::vector<double> stacking_shares(const std::vector<double>& params, int members) {
  const size_t d = stack_features(members);
  std::vector<double> share(members, 0.0);
  double total = 0.0;
  for (int m = 0; m < members; ++m) {
    for (int k = 0; k < kNumClasses; ++k) {
      const size_t j = static_cast<size_t>(m) * kStackPerMember + k;
      double mean = 0.0;
      for (int c = 0; c < kNumClasses; ++c) mean += params[c * d + j] / kNumClasses;
      for (int c = 0; c < kNumClasses; ++c) share[m] += std::abs(params[c * d + j] - mean);
    }
    total += share[m];
  }
  if (!(total > 0.0)) return equal_weights(members);
  for (double& s : share) s /= total;
  return share;
}

// Mean gate over the fitting samples (a missing member's gate is 0).
std::vector<double> mean_gate(EnsembleKind kind, const std::vector<double>& params,
                              const Inputs& in) {
  std::vector<double> mean(in.members, 0.0);
  std::vector<double> g;
  for (int i = 0; i < in.count; ++i) {
    gate(kind, params, in, i, g);
    for (int m = 0; m < in.members; ++m) mean[m] += g[m] / in.count;
  }
  return mean;
}

double json_double(const Json& value, const char* field) {
  if (!value.is_number())
    throw InputError(std::string("ensemble json: ") + field + " not a number");
  const double v = value.get<double>();
  if (!std::isfinite(v)) throw InputError(std::string("ensemble json: ") + field + " not finite");
  return v;
}

std::vector<double> json_doubles(const Json& j, const char* field, size_t expected) {
  if (!j.contains(field) || !j[field].is_array())
    throw InputError(std::string("ensemble json: '") + field + "' missing or not an array");
  const Json& a = j[field];
  if (a.size() != expected)
    throw InputError(std::string("ensemble json: '") + field + "' has " + std::to_string(a.size()) +
                     " values, expected " + std::to_string(expected));
  std::vector<double> out;
  out.reserve(expected);
  for (const Json& v : a) out.push_back(json_double(v, field));
  return out;
}

}  // namespace

EnsembleKind parse_ensemble(const std::string& text) {
  std::string choices;
  for (const auto& entry : kKindNames) {
    if (text == entry.name) return entry.kind;
    if (!choices.empty()) choices += ", ";
    choices += entry.name;
  }
  throw InputError("--ensemble: unknown kind '" + text + "' (choose one of: " + choices + ")");
}

const char* to_string(EnsembleKind kind) {
  for (const auto& entry : kKindNames)
    if (entry.kind == kind) return entry.name;
  throw std::invalid_argument("to_string: unknown ensemble kind");
}

const OptionTable<EnsembleSettings>& ensemble_options() {
  static const OptionTable<EnsembleSettings> table = [] {
    using S = EnsembleSettings;
    OptionTable<S> t;
    t.add_choice("--ensemble", &S::kind,
                 {EnsembleKind::kNone, EnsembleKind::kAverage, EnsembleKind::kWeighted,
                  EnsembleKind::kStacking, EnsembleKind::kGating},
                 "late fusion over the combinations, fitted on validation patients")
        .json_key("kind");
    t.add("--ensemble-l2", &S::l2, "L2 penalty on the weights, stacker and gate")
        .range(0, kMaxL2)
        .json_key("l2");
    t.add("--ensemble-iterations", &S::iterations, "full-batch L-BFGS iterations of the fit")
        .range(kMinIterations, kMaxIterations)
        .json_key("iterations");
    t.add("--seed", &S::seed, "initialisation (fits are deterministic for a seed)").run_context();
    return t;
  }();
  return table;
}

void EnsembleSettings::validate() const { ensemble_options().validate(*this); }

Ensemble Ensemble::fit(const EnsembleSettings& settings, const MemberPredictions& inner,
                       const std::vector<int>& labels) {
  settings.validate();
  if (settings.kind == EnsembleKind::kNone)
    throw std::invalid_argument("ensemble: kind 'none' has nothing to fit");
  const Inputs in = check_members(inner, "ensemble fit");
  if (in.count == 0) throw InputError("ensemble fit: no samples");
  if (labels.size() != static_cast<size_t>(in.count))
    throw InputError("ensemble fit: " + std::to_string(labels.size()) + " labels for " +
                     std::to_string(in.count) + " samples");
  for (int i = 0; i < in.count; ++i) {
    if (labels[i] < 0 || labels[i] >= kNumClasses)
      throw InputError("ensemble fit: label " + std::to_string(labels[i]) + " of sample " +
                       std::to_string(i) + " outside [0, " + std::to_string(kNumClasses) + ")");
    if (!in.any(i))
      throw InputError("ensemble fit: no member predicts sample " + std::to_string(i));
  }

  Ensemble e;
  e.kind_ = settings.kind;
  e.members_ = in.members;
  switch (settings.kind) {
    case EnsembleKind::kNone:
    case EnsembleKind::kAverage:
      e.weights_ = equal_weights(in.members);
      break;
    case EnsembleKind::kWeighted:
    case EnsembleKind::kGating:
      e.params_ = fit_mixture(settings.kind, settings, in, labels).x;
      // Weighted reports its fitted weights themselves; gating its mean gate on these samples.
      e.weights_ = settings.kind == EnsembleKind::kWeighted
                       ? softmax(e.params_)
                       : mean_gate(settings.kind, e.params_, in);
      break;
    case EnsembleKind::kStacking:
      e.params_ = fit_stacking(settings, in, labels).x;
      e.weights_ = stacking_shares(e.params_, in.members);
      break;
  }
  return e;
}

Probabilities Ensemble::predict(const MemberPredictions& members) const {
  if (kind_ == EnsembleKind::kNone)
    throw std::invalid_argument("ensemble: kind 'none' predicts nothing");
  const Inputs in = check_members(members, "ensemble predict");
  if (in.members != members_)
    throw InputError("ensemble predict: " + std::to_string(in.members) +
                     " members given, the ensemble was fitted on " + std::to_string(members_));
  Probabilities out(static_cast<size_t>(in.count) * kNumClasses,
                    std::numeric_limits<double>::quiet_NaN());
  std::vector<double> g;
  std::vector<double> x;
  std::array<double, kNumClasses> z{};
  std::array<double, kNumClasses> p{};
  for (int i = 0; i < in.count; ++i) {
    if (!in.any(i)) continue;  // stays NaN
    double* row = out.data() + static_cast<size_t>(i) * kNumClasses;
    if (kind_ == EnsembleKind::kStacking) {
      stack_inputs(in, i, x);
      stack_scores(params_, x, z, p);
      for (int c = 0; c < kNumClasses; ++c) row[c] = p[c];
      continue;
    }
    if (kind_ == EnsembleKind::kAverage) {
      int available = 0;
      for (int m = 0; m < in.members; ++m) available += in.has(i, m) ? 1 : 0;
      g.assign(in.members, 0.0);
      for (int m = 0; m < in.members; ++m)
        if (in.has(i, m)) g[m] = 1.0 / available;
    } else {
      gate(kind_, params_, in, i, g);
    }
    for (int c = 0; c < kNumClasses; ++c) {
      double s = 0.0;
      for (int m = 0; m < in.members; ++m)
        if (in.has(i, m)) s += g[m] * in.p(m, i, c);
      row[c] = s;
    }
  }
  return out;
}

std::vector<double> Ensemble::member_weights() const { return weights_; }

int Ensemble::members() const { return members_; }

EnsembleKind Ensemble::kind() const { return kind_; }

nlohmann::json Ensemble::to_json() const {
  Json j;
  j["format"] = kJsonFormatVersion;
  j["kind"] = to_string(kind_);
  j["members"] = members_;
  j["params"] = params_;
  j["member_weights"] = weights_;
  return j;
}

Ensemble Ensemble::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InputError("ensemble json: not an object");
  if (!j.contains("format") || !j["format"].is_number_integer() ||
      j["format"].get<long long>() != kJsonFormatVersion)
    throw InputError("ensemble json: 'format' missing or not " +
                     std::to_string(kJsonFormatVersion));
  if (!j.contains("kind") || !j["kind"].is_string())
    throw InputError("ensemble json: 'kind' missing or not a string");
  Ensemble e;
  try {
    e.kind_ = parse_ensemble(j["kind"].get<std::string>());
  } catch (const InputError&) {
    throw InputError("ensemble json: unknown kind '" + j["kind"].get<std::string>() + "'");
  }
  if (!j.contains("members") || !j["members"].is_number_integer())
    throw InputError("ensemble json: 'members' missing or not an integer");
  const long long members = j["members"].get<long long>();
  const long long min_members = e.kind_ == EnsembleKind::kNone ? 0 : 1;
  if (members < min_members || members > kMaxMembers)
    throw InputError("ensemble json: 'members' " + std::to_string(members) + " out of range");
  e.members_ = static_cast<int>(members);
  e.params_ = json_doubles(j, "params", param_count(e.kind_, e.members_));
  e.weights_ = json_doubles(j, "member_weights", static_cast<size_t>(e.members_));
  return e;
}

}  // namespace woundphase
