// The cross-validated search: runs x patient folds x modality combinations.
#include "woundphase/search.h"

#include <fmt/format.h>

#include <algorithm>  // for any_of, clamp, find, max, max_element
#include <chrono>
#include <cmath>  // for ceil
#include <condition_variable>
#include <deque>
#include <exception>   // for exception_ptr
#include <functional>  // for function
#include <map>
#include <memory>  // for unique_ptr
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>  // for mt19937_64
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "experiment/fold.h"
#include "experiment/search_plan.h"
#include "experiment/seed_streams.h"
#include "woundphase/modality.h"
#include "woundphase/search_settings.h"
#include "woundphase/split.h"
#include "woundphase/stats.h"  // for nan_mean_std

namespace woundphase {
namespace {

// Permutes labels with a seeded Fisher-Yates of our own (std::shuffle's draws are
// implementation-defined; ours are the same on every platform).
std::vector<int> permuted(std::vector<int> labels, unsigned long long seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = labels.size(); i > 1; --i) {
    const size_t j = rng() % i;
    std::swap(labels[i - 1], labels[j]);
  }
  return labels;
}

}  // namespace

std::string to_string(CleanProtocol p) {
  return p == CleanProtocol::kHonest ? "honest" : "optimistic";
}

bool SearchSettings::uses_fusion() const {
  for (const auto& c : combinations)
    if (c.size() > 1) return true;
  return false;
}

double FoldResult::stage_qwk(const std::string& stage) const {
  for (const StageResult& s : stages)
    if (s.stage == stage) return s.scores.qwk;
  return NAN;
}

bool SearchSettings::uses_images() const {
  for (const auto& c : combinations)
    for (Modality m : c)
      if (is_image(m)) return true;
  return false;
}

std::vector<CombinationSummary> summarise(const std::vector<Combination>& combinations,
                                          const std::vector<FoldResult>& folds,
                                          const std::vector<PredictionRow>& predictions) {
  std::vector<std::string> names;
  for (const Combination& combo : combinations) names.push_back(to_string(combo));
  return summarise_named(names, folds, predictions);
}

std::vector<CombinationSummary> summarise_named(const std::vector<std::string>& names,
                                                const std::vector<FoldResult>& folds,
                                                const std::vector<PredictionRow>& predictions) {
  std::vector<CombinationSummary> out;
  for (const std::string& name : names) {
    CombinationSummary s;
    s.modalities = name;
    std::vector<double> qwk, kappa, acc, mf1;
    std::array<std::vector<double>, kNumClasses> f1;
    for (const auto& fr : folds) {
      if (fr.modalities != name) continue;
      qwk.push_back(fr.scores.qwk);
      kappa.push_back(fr.scores.kappa);
      acc.push_back(fr.scores.accuracy);
      mf1.push_back(fr.scores.macro_f1);
      for (int c = 0; c < kNumClasses; ++c) f1[c].push_back(fr.scores.f1[c]);
    }
    std::set<int> evaluated;
    for (const auto& p : predictions)
      if (p.modalities == name) evaluated.insert(p.row);
    s.n_samples = static_cast<int>(evaluated.size());
    // A fold whose kappa is undefined (one class in truth and predictions) has no value.
    s.qwk = stats::nan_mean_std(qwk);
    s.kappa = stats::nan_mean_std(kappa);
    s.accuracy = mean_std(acc);
    s.macro_f1 = mean_std(mf1);
    for (int c = 0; c < kNumClasses; ++c) s.f1[c] = mean_std(f1[c]).mean;
    out.push_back(s);
  }
  return out;
}

SearchPlan::SearchPlan(const Dataset& data, const SearchSettings& settings)
    : data_(data),
      settings_(settings),
      n_folds_(std::max(settings.cv_folds, 1)),
      labels_(data.labels()),
      patient_of_row_(data.patient_of_rows()) {}

int SearchPlan::total_jobs() const {
  const int jobs_per_fold =
      static_cast<int>(settings_.combinations.size()) + (with_ensemble() ? 1 : 0);
  return settings_.runs * n_folds_ * jobs_per_fold;
}

unsigned long long SearchPlan::run_seed(int run) const {
  return settings_.seed + static_cast<unsigned long long>(run);
}

const std::vector<int>& SearchPlan::fold_of_patient(int run) {
  if (const auto it = fold_of_patient_.find(run); it != fold_of_patient_.end()) return it->second;
  const int n_patients = static_cast<int>(data_.patients.size());
  const unsigned long long seed = run_seed(run);
  // Patients kept (data percentage), then folds over the kept patients only.
  auto counts = group_class_counts(labels_, patient_of_row_, n_patients);
  if (settings_.data_percentage < 100) {
    const auto keep = keep_group_percentage(counts, settings_.data_percentage,
                                            stream_seed(seed, SeedStream::kDataPercentage));
    for (int p = 0; p < n_patients; ++p)
      if (!keep[p]) counts[p].assign(kNumClasses, 0);
  }
  GroupAssignment split;
  if (settings_.cv_folds >= 2) {
    split =
        stratified_group_kfold(counts, settings_.cv_folds, stream_seed(seed, SeedStream::kFolds));
  } else {
    // Part 1 is the test part.
    split =
        stratified_group_split(counts, {settings_.train_fraction, 1.0 - settings_.train_fraction},
                               stream_seed(seed, SeedStream::kFolds));
  }
  return fold_of_patient_[run] = std::move(split.fold_of_group);
}

FoldPlan SearchPlan::fold_plan(int run, int fold) {
  const std::vector<int>& fold_of = fold_of_patient(run);
  const int test_part = settings_.cv_folds >= 2 ? fold : 1;
  std::vector<int> train_rows;
  std::vector<int> test_rows;
  const std::set<int> excluded(settings_.excluded_rows.begin(), settings_.excluded_rows.end());
  for (size_t r = 0; r < data_.rows.size(); ++r) {
    const int part = fold_of[patient_of_row_[r]];
    if (part < 0 || excluded.count(static_cast<int>(r)) > 0) continue;
    (part == test_part ? test_rows : train_rows).push_back(static_cast<int>(r));
  }
  if (test_rows.empty() || train_rows.empty())
    throw InputError(
        fmt::format("run {} fold {}: no {} patients; use fewer --cv-folds or more data", run, fold,
                    test_rows.empty() ? "test" : "training"));
  std::vector<int> train_labels;
  for (int r : train_rows) train_labels.push_back(labels_[r]);
  require_two_classes(data_, train_labels,
                      fmt::format("the {} training visit-wounds of run {} fold {}",
                                  train_labels.size(), run, fold));
  if (settings_.shuffle_labels)
    train_labels = permuted(
        train_labels, mix_seed(stream_seed(run_seed(run), SeedStream::kShuffledLabels), fold));
  return make_fold_plan(data_, settings_.images.validation_fraction, run, run_seed(run), fold,
                        std::move(train_rows), std::move(train_labels), std::move(test_rows));
}

std::vector<Modality> SearchPlan::image_modalities() const {
  std::vector<Modality> out;
  for (int i = 0; i < kNumModalities; ++i) {
    const auto m = static_cast<Modality>(i);
    if (!is_image(m)) continue;
    bool used = false;
    for (const Combination& combo : settings_.combinations)
      used = used || std::find(combo.begin(), combo.end(), m) != combo.end();
    if (used) out.push_back(m);
  }
  return out;
}

nlohmann::json cleaning_json(const std::vector<CleaningRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const CleaningRow& c : rows) {
    const LabelIssue& i = c.issue;
    out.push_back({c.run, c.fold, c.row, i.flagged, i.self_confidence, i.suggested, i.misclassified,
                   i.passes, i.suggested_prob, i.suggested_threshold, i.label_threshold, i.needed});
  }
  return out;
}

std::vector<CleaningRow> cleaning_from(const nlohmann::json& j) {
  std::vector<CleaningRow> out;
  for (const auto& e : j) {
    CleaningRow c;
    c.run = e.at(0).get<int>();
    c.fold = e.at(1).get<int>();
    c.row = e.at(2).get<int>();
    LabelIssue& i = c.issue;
    i.flagged = e.at(3).get<bool>();
    i.self_confidence = e.at(4).get<double>();
    i.suggested = e.at(5).get<int>();
    i.misclassified = e.at(6).get<int>();
    i.passes = e.at(7).get<int>();
    i.suggested_prob = e.at(8).get<double>();
    i.suggested_threshold = e.at(9).get<double>();
    i.label_threshold = e.at(10).get<double>();
    i.needed = e.at(11).get<int>();
    out.push_back(c);
  }
  return out;
}

nlohmann::json generated_json(const std::vector<GeneratedCount>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const GeneratedCount& c : rows)
    out.push_back({c.combination, c.modality, c.stage, c.injected});
  return out;
}

std::vector<GeneratedCount> generated_from(const nlohmann::json& j, int run, int fold) {
  std::vector<GeneratedCount> out;
  for (const auto& e : j) {
    GeneratedCount c;
    c.run = run;
    c.fold = fold;
    c.combination = e.at(0).get<std::string>();
    c.modality = e.at(1).get<std::string>();
    c.stage = e.at(2).get<std::string>();
    c.injected = e.at(3).get<ClassCounts>();
    out.push_back(c);
  }
  return out;
}

void append_job(const JobRecord& job, SearchResult* result) {
  result->folds.push_back(job.result);
  result->predictions.insert(result->predictions.end(), job.test.begin(), job.test.end());
  result->oof_predictions.insert(result->oof_predictions.end(), job.oof.begin(), job.oof.end());
  for (const CurvePoint& point : job.curve) result->curves.emplace_back(job.result, point);
  // A (run, fold)'s image branch is shared by its combinations: its counts once.
  for (const GeneratedCount& c : job.generated) {
    const bool seen = std::any_of(
        result->generated.begin(), result->generated.end(), [&](const GeneratedCount& g) {
          return g.run == c.run && g.fold == c.fold && g.stage == c.stage &&
                 g.combination == c.combination && g.modality == c.modality;
        });
    if (!seen) result->generated.push_back(c);
  }
  // A (run, fold)'s metadata branch is shared by its combinations: its verdicts once.
  if (job.cleaning.empty()) return;
  const CleaningRow& first = job.cleaning.front();
  for (const CleaningRow& c : result->cleaning)
    if (c.run == first.run && c.fold == first.fold) return;
  result->cleaning.insert(result->cleaning.end(), job.cleaning.begin(), job.cleaning.end());
}

std::string job_line(int done, int total, const JobRecord& job, bool stored,
                     const std::string& where) {
  const FoldResult& r = job.result;
  return fmt::format("[{}/{}] run {} fold {} {}: QWK {:.3f}, kappa {:.3f}, n_test {}{}", done,
                     total, r.run, r.fold, r.modalities, r.scores.qwk, r.scores.kappa, r.n_test,
                     stored ? " (stored)" : fmt::format(" ({:.2f} s{})", job.seconds, where));
}

void apply_decisions(const Dataset& data, const SearchSettings& settings, SearchResult* result) {
  bool tuned = false;
  for (const FoldResult& f : result->folds) tuned = tuned || !f.tuned.empty();
  if (settings.decision == DecisionRule::kArgmax && !tuned) return;
  using Key = std::tuple<int, int, std::string>;
  std::map<Key, std::vector<PredictionRow*>> test, oof;
  for (PredictionRow& p : result->predictions) test[{p.run, p.fold, p.modalities}].push_back(&p);
  for (PredictionRow& p : result->oof_predictions) oof[{p.run, p.fold, p.modalities}].push_back(&p);
  // The training labels of each (run, fold) as the jobs saw them.
  SearchPlan plan(data, settings);
  std::map<std::pair<int, int>, std::unordered_map<int, int>> train_label;
  auto label_of = [&](int run, int fold) -> const std::unordered_map<int, int>& {
    auto it = train_label.find({run, fold});
    if (it != train_label.end()) return it->second;
    const FoldPlan fp = plan.fold_plan(run, fold);
    std::unordered_map<int, int> labels;
    for (size_t i = 0; i < fp.train_rows.size(); ++i) labels[fp.train_rows[i]] = fp.train_labels[i];
    return train_label.emplace(std::make_pair(run, fold), std::move(labels)).first->second;
  };
  for (FoldResult& f : result->folds) {
    const Key key{f.run, f.fold, f.modalities};
    const std::unordered_map<int, int>& labels = label_of(f.run, f.fold);
    Probabilities fit_probs;
    std::vector<int> fit_truth;
    for (const PredictionRow* p : oof[key]) {
      fit_probs.insert(fit_probs.end(), p->prob.begin(), p->prob.end());
      fit_truth.push_back(labels.at(p->row));
    }
    const DecisionRule rule =
        f.tuned.empty()
            ? settings.decision
            : parse_decision(nlohmann::json::parse(f.tuned).at("decision").get<std::string>());
    f.decision = fit_decision(rule, fit_probs, fit_truth);
    std::vector<int> truth, pred;
    for (PredictionRow* p : test[key]) {
      p->pred = f.decision.apply_row(p->prob.data());
      truth.push_back(data.rows[p->row].label);
      pred.push_back(p->pred);
    }
    for (PredictionRow* p : oof[key]) p->pred = f.decision.apply_row(p->prob.data());
    f.scores = score(truth, pred);
  }
}

void summarise_result(const SearchSettings& settings, SearchResult* result) {
  result->summary = summarise(settings.combinations, result->folds, result->predictions);
  if (settings.ensemble.kind == EnsembleKind::kNone) return;
  // The ensemble's row, summarised like a combination.
  const auto extra = summarise_named({kEnsembleName}, result->folds, result->predictions);
  result->summary.insert(result->summary.end(), extra.begin(), extra.end());
}

namespace {

// A JobCache shared by concurrent fold jobs: one call at a time.
class LockedCache final : public JobCache {
 public:
  explicit LockedCache(JobCache* inner) : inner_(inner) {}
  std::optional<JobRecord> find(int run, int fold, const std::string& modalities) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return inner_->find(run, fold, modalities);
  }
  void save(const JobRecord& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    inner_->save(job);
  }
  void splits(int run, const std::vector<int>& fold_of_patient) override {
    std::lock_guard<std::mutex> lock(mutex_);
    inner_->splits(run, fold_of_patient);
  }
  std::string weights_path(int run, int fold, const std::string& modality) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return inner_->weights_path(run, fold, modality);
  }
  bool reuse_networks() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return inner_->reuse_networks();
  }

 private:
  JobCache* inner_;
  std::mutex mutex_;
};

}  // namespace

namespace {

SearchResult run_search_pass(const Dataset& data, const SearchSettings& settings,
                             const ProgressFn& progress, JobCache* cache, RemoteSearch* remote) {
  settings.validate();
  if (!data.has_labels)
    throw InputError(fmt::format("{}: a search needs labels", data.metadata_path));
  require_two_classes(data, data.labels(),
                      fmt::format("the study's {} visit-wounds", data.rows.size()));
  if (remote != nullptr) return remote->run(data, settings, progress, cache);

  std::unique_ptr<ImageInputs> images;
  if (settings.uses_images()) images = prepare_images(data, settings, progress);

  SearchPlan plan(data, settings);
  SearchResult result;
  if (images) result.skipped_images = images->skipped();
  std::vector<FoldPlan> fold_plans;
  for (int run = 0; run < plan.runs(); ++run) {
    result.run_seeds.push_back(plan.run_seed(run));
    result.fold_of_patient.push_back(plan.fold_of_patient(run));
    if (cache != nullptr) cache->splits(run, result.fold_of_patient.back());
    for (int fold = 0; fold < plan.folds(); ++fold) fold_plans.push_back(plan.fold_plan(run, fold));
  }

  // The work is a set of tasks: each (run, fold)'s image branches, the heavy part, and then the
  // fold's combinations and ensemble once its branches are trained. --threads N runs up to N
  // tasks at once, taking branches in fold order and a fold's combinations as soon as its last
  // branch is done, so that N cores stay busy however the folds divide among them. Each network
  // runs on one thread (kNetworkThreads) and draws from its own generator, so the bytes do not
  // depend on N; a job's forest gets the threads left over. Results are appended in (run, fold,
  // combination) order.
  const int n_folds = static_cast<int>(fold_plans.size());
  std::vector<Modality> branch_modalities;  // in the order of kNumModalities
  for (int m = 0; m < kNumModalities; ++m)
    for (const Combination& combo : settings.combinations)
      if (is_image(static_cast<Modality>(m)) &&
          std::find(combo.begin(), combo.end(), static_cast<Modality>(m)) != combo.end()) {
        branch_modalities.push_back(static_cast<Modality>(m));
        break;
      }
  const int most_at_once = n_folds * std::max<int>(1, static_cast<int>(branch_modalities.size()));
  const int workers = std::clamp(settings.threads, 1, most_at_once);
  SearchSettings job_settings = settings;
  job_settings.threads = std::max(1, settings.threads / workers);
  std::optional<LockedCache> locked;
  if (cache != nullptr) locked.emplace(cache);
  JobCache* shared_cache = locked ? &*locked : nullptr;
  std::mutex progress_mutex;  // progress calls, counters and the kill point
  const ProgressFn shared_progress = [&](const ProgressEvent& event) {
    std::lock_guard<std::mutex> lock(progress_mutex);
    if (progress) progress(event);
  };
  const int total_jobs = plan.total_jobs();
  int done_jobs = 0;
  int in_flight = 0;
  std::vector<std::vector<JobRecord>> fold_jobs(n_folds);
  std::vector<std::exception_ptr> errors(n_folds);
  // A fold's work exists from its first task to the end of its last: the folds in progress hold
  // their networks, the others none.
  std::vector<std::unique_ptr<FoldWork>> works(n_folds);
  std::unique_ptr<std::once_flag[]> work_made(new std::once_flag[n_folds]);
  auto work_of = [&](int i) -> FoldWork& {
    std::call_once(work_made[i], [&] {
      works[i] = std::make_unique<FoldWork>(data, job_settings, images.get(), fold_plans[i],
                                            shared_progress, shared_cache);
    });
    return *works[i];
  };

  auto finish_fold = [&](int i) {
    const FoldPlan& fp = fold_plans[i];
    FoldWork& work = work_of(i);
    std::vector<JobRecord>& jobs = fold_jobs[i];
    auto finish = [&](const std::string& name, const std::function<JobRecord()>& compute) {
      std::optional<JobRecord> job;
      if (shared_cache != nullptr) job = shared_cache->find(fp.run, fp.fold, name);
      const bool reused = job.has_value();
      if (!reused) {
        {
          std::lock_guard<std::mutex> lock(progress_mutex);
          ++in_flight;
        }
        job = compute();
      }
      // Storing and counting under one lock: a search killed after N jobs has stored exactly N,
      // whatever ran beside them.
      std::lock_guard<std::mutex> lock(progress_mutex);
      if (!reused) {
        --in_flight;
        test_kill_point("fit", done_jobs);
        if (shared_cache != nullptr) shared_cache->save(*job);
      }
      ++done_jobs;
      const std::string where =
          workers > 1 && in_flight > 0 ? fmt::format(", {} more in flight", in_flight) : "";
      if (progress)
        progress({done_jobs, total_jobs, job_line(done_jobs, total_jobs, *job, reused, where)});
      jobs.push_back(std::move(*job));
    };
    for (const Combination& combo : settings.combinations)
      finish(to_string(combo), [&] { return work.compute(combo); });
    if (plan.with_ensemble()) {
      std::vector<const JobRecord*> members;
      for (const JobRecord& j : jobs) members.push_back(&j);
      finish(kEnsembleName, [&] { return work.ensemble(members); });
    }
    works[i].reset();
  };
  // The combinations of fold i still to compute: all of them, or on resume those not stored.
  auto pending = [&](int i) {
    std::vector<const Combination*> out;
    for (const Combination& combo : settings.combinations)
      if (shared_cache == nullptr ||
          !shared_cache->find(fold_plans[i].run, fold_plans[i].fold, to_string(combo)))
        out.push_back(&combo);
    return out;
  };

  struct Task {
    int fold = 0;
    std::optional<Modality> branch;  // none: the fold's combinations and ensemble
  };
  std::deque<Task> queue;
  std::vector<int> branches_left(n_folds, 0);
  for (int i = 0; i < n_folds; ++i) {
    // A branch is trained ahead only for a combination still to compute (on resume, a fold whose
    // jobs are all stored trains none).
    const std::vector<const Combination*> todo = pending(i);
    for (Modality m : branch_modalities)
      if (std::any_of(todo.begin(), todo.end(), [m](const Combination* c) {
            return std::find(c->begin(), c->end(), m) != c->end();
          })) {
        queue.push_back({i, m});
        ++branches_left[i];
      }
    if (branches_left[i] == 0) queue.push_back({i, std::nullopt});
  }
  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  int folds_left = n_folds;
  bool failed = false;
  auto worker = [&] {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(queue_mutex);
        queue_changed.wait(lock, [&] { return failed || folds_left == 0 || !queue.empty(); });
        if (failed || folds_left == 0) return;
        task = queue.front();
        queue.pop_front();
      }
      bool ok = true;
      try {
        if (task.branch) {
          {
            std::lock_guard<std::mutex> lock(progress_mutex);
            ++in_flight;
          }
          work_of(task.fold).prepare_branch(*task.branch);
          std::lock_guard<std::mutex> lock(progress_mutex);
          --in_flight;
        } else {
          finish_fold(task.fold);
        }
      } catch (...) {
        errors[task.fold] = std::current_exception();
        ok = false;
      }
      std::lock_guard<std::mutex> lock(queue_mutex);
      if (!ok) {
        failed = true;
      } else if (!task.branch) {
        --folds_left;
      } else if (--branches_left[task.fold] == 0) {
        queue.push_front({task.fold, std::nullopt});  // finish the fold before starting others
      }
      queue_changed.notify_all();
    }
  };
  if (workers == 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  // The first failure in job order, whatever the timing.
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);

  for (const auto& jobs : fold_jobs)
    for (const JobRecord& job : jobs) append_job(job, &result);
  apply_decisions(data, settings, &result);
  summarise_result(settings, &result);
  return result;
}

// The optimistic protocol (CleanProtocol::kOptimistic): flags from the outer CV's own test
// predictions of the metadata branch, over every run.
std::vector<CleaningRow> optimistic_flags(const Dataset& data, const SearchSettings& settings,
                                          const SearchResult& first) {
  const std::string name = to_string(Combination{Modality::kMetadata});
  std::map<int, std::vector<const PredictionRow*>> by_row;
  for (const PredictionRow& p : first.predictions)
    if (p.modalities == name) by_row[p.row].push_back(&p);
  std::vector<int> rows, labels;
  Probabilities mean;
  for (const auto& [row, preds] : by_row) {
    rows.push_back(row);
    labels.push_back(data.rows[row].label);
    for (int c = 0; c < kNumClasses; ++c) {
      double sum = 0;
      for (const PredictionRow* p : preds) sum += p->prob[c];
      mean.push_back(sum / static_cast<double>(preds.size()));
    }
  }
  const CleanSettings& clean = settings.tabular.clean;
  std::vector<LabelIssue> issues;
  if (clean.method == CleanMethod::kConfident) {
    issues = confident_issues(mean, labels);
  } else {
    for (size_t k = 0; k < rows.size(); ++k) {
      LabelIssue issue;
      const auto& preds = by_row.at(rows[k]);
      issue.passes = static_cast<int>(preds.size());
      for (const PredictionRow* p : preds) issue.misclassified += p->pred != labels[k] ? 1 : 0;
      const double* m = &mean[k * kNumClasses];
      issue.self_confidence = m[labels[k]];
      issue.suggested = static_cast<int>(std::max_element(m, m + kNumClasses) - m);
      issue.needed = std::max(
          1, static_cast<int>(std::ceil(clean.misclass_share[labels[k]] * issue.passes - 1e-9)));
      issue.flagged = issue.misclassified >= issue.needed;
      issues.push_back(issue);
    }
  }
  std::vector<CleaningRow> out;
  for (size_t k = 0; k < rows.size(); ++k) out.push_back(CleaningRow{-1, -1, rows[k], issues[k]});
  return out;
}

}  // namespace

SearchResult run_search(const Dataset& data, const SearchSettings& settings,
                        const ProgressFn& progress, JobCache* cache, RemoteSearch* remote) {
  if (settings.tabular.clean.method == CleanMethod::kNone)
    return run_search_pass(data, settings, progress, cache, remote);
  if (settings.clean_protocol == CleanProtocol::kHonest) {
    SearchResult result = run_search_pass(data, settings, progress, cache, remote);
    result.cleaning_label = fmt::format("{}, {}, honest", to_string(settings.tabular.clean.method),
                                        to_string(settings.tabular.clean.action));
    return result;
  }
  settings.validate();
  if (remote != nullptr)
    throw InputError("--clean-protocol optimistic runs in one process (not under mpirun)");
  bool has_metadata = false;
  for (const Combination& c : settings.combinations)
    has_metadata = has_metadata || c == Combination{Modality::kMetadata};
  if (!has_metadata)
    throw InputError(
        "--clean-protocol optimistic flags visit-wounds from the metadata combination's test "
        "predictions: add metadata to --modalities");
  // First search: no cleaning, not stored (its job keys are the second search's).
  SearchSettings first = settings;
  first.tabular.clean.method = CleanMethod::kNone;
  first.clean_protocol = CleanProtocol::kHonest;
  first.decision = DecisionRule::kArgmax;
  if (progress)
    progress(
        {0, 0, "optimistic cleaning: a first search flags visit-wounds from its own test folds"});
  const SearchResult flagged_by = run_search_pass(data, first, progress, nullptr, nullptr);
  std::vector<CleaningRow> flags = optimistic_flags(data, settings, flagged_by);
  SearchSettings second = settings;
  second.tabular.clean.method = CleanMethod::kNone;
  for (const CleaningRow& c : flags)
    if (c.issue.flagged) second.excluded_rows.push_back(c.row);
  if (progress)
    progress({0, 0,
              fmt::format("optimistic cleaning: {} of {} visit-wounds removed from the study, "
                          "searching again (OPTIMISTIC: not an honest estimate)",
                          second.excluded_rows.size(), flags.size())});
  SearchResult result = run_search_pass(data, second, progress, cache, nullptr);
  result.cleaning = std::move(flags);
  result.cleaning_label = fmt::format("{}, drop, OPTIMISTIC (flags from the outer CV itself)",
                                      to_string(settings.tabular.clean.method));
  return result;
}

}  // namespace woundphase
