// Rank 0 of a distributed search: plans every job of the search in the single-process order,
// hands each ready job to a free worker (where its branches already are, when it can), stores
// finished jobs, fits the fold ensembles itself (milliseconds, on jobs it holds) and puts a lost
// worker's job back in the queue.
#ifdef WOUNDPHASE_HAVE_MPI

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>  // for getenv
#include <deque>
#include <map>
#include <set>
#include <thread>  // for sleep_for
#include <tuple>

#include "cluster/transport.h"
#include "experiment/fold.h"
#include "experiment/search_plan.h"

namespace woundphase {

namespace {

enum class JobKind { kBranch, kCombination, kEnsemble };
enum class JobState { kWaiting, kReady, kRunning, kDone };
enum class WorkerState { kStarting, kIdle, kBusy, kLost };

struct PlannedJob {
  JobKind kind = JobKind::kCombination;
  int run = 0;
  int fold = 0;
  Modality modality = Modality::kMetadata;  // branch jobs
  int combo = 0;                            // combination jobs: index in settings.combinations
  int waiting_for = 0;                      // unfinished jobs this one needs
  std::vector<int> unlocks;                 // jobs that need this one
  JobState state = JobState::kWaiting;
  int worker = -1;
  int attempts = 0;
};

// The (run, fold)s whose branches a worker holds in memory, least recently used first, and
// which branches: as the worker keeps them (kKeptFolds), so rank 0 can send it jobs that need no
// network loaded from disk.
using HeldFolds = std::deque<std::pair<FoldKey, std::set<Modality> > >;

// Marks (run, fold) as used last, evicting the least recently used fold beyond kKeptFolds.
std::set<Modality>& touch(HeldFolds& held, FoldKey key) {
  for (auto it = held.begin(); it != held.end(); ++it)
    if (it->first == key) {
      auto entry = std::move(*it);
      held.erase(it);
      held.push_back(std::move(entry));
      return held.back().second;
    }
  if (held.size() == kKeptFolds) held.pop_front();
  held.emplace_back(key, std::set<Modality>{});
  return held.back().second;
}

struct WorkerView {
  WorkerState state = WorkerState::kStarting;
  Clock::time_point last_heard;
  int job = -1;
  HeldFolds held;
};

class Coordinator {
 public:
  Coordinator(const Dataset& data, const SearchSettings& settings, const ProgressFn& progress,
              JobCache* cache, Cluster& cluster)
      : data_(data),
        settings_(settings),
        progress_(progress),
        cache_(cache),
        cluster_(cluster.impl()),
        plan_(data, settings),
        timeout_(peer_timeout()) {}

  SearchResult run() {
    const auto start = Clock::now();
    if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr &&
        std::getenv("OMPI_MCA_orte_enable_recovery") == nullptr)
      spdlog::info(
          "note: without {} a worker rank that dies ends the whole job (then rerun with "
          "--resume auto)",
          kRecoveryFlags);
    build_plan();
    busy_ += seconds_between(start, Clock::now());
    workers_.assign(cluster_.size, WorkerView{});
    const std::string hello = encode_start(start_record(data_, settings_));
    for (int r = 1; r < cluster_.size; ++r) {
      workers_[r].last_heard = Clock::now();
      cluster_.post(r, Tag::kStart, hello);
    }
    cluster_.workers_started = true;
    spdlog::info("{} jobs to run on {} worker ranks (rank 0 coordinates)", open_jobs_,
                 cluster_.size - 1);
    auto last_beat = Clock::now();
    while (open_jobs_ > 0) {
      const auto tick = Clock::now();
      bool worked = false;
      while (auto m = cluster_.receive(MPI_ANY_SOURCE, MPI_ANY_TAG)) {
        handle(*m);
        worked = true;
      }
      worked = run_ensembles() || worked;
      worked = dispatch() || worked;
      if (tick - last_beat >= kHeartbeatInterval) {
        for (int r = 1; r < cluster_.size; ++r)
          if (workers_[r].state != WorkerState::kLost) cluster_.post(r, Tag::kHeartbeat, "");
        last_beat = tick;
        check_workers();
      }
      cluster_.flush();
      if (worked) {
        busy_ += seconds_between(tick, Clock::now());
      } else {
        std::this_thread::sleep_for(kPollInterval);
      }
    }
    const auto assemble = Clock::now();
    cluster_.release();
    SearchResult result = std::move(result_);
    for (int run = 0; run < plan_.runs(); ++run)
      for (int fold = 0; fold < plan_.folds(); ++fold)
        for (int slot = 0; slot < slots(); ++slot)
          append_job(records_.at({run, fold, slot}), &result);
    apply_decisions(data_, settings_, &result);
    summarise_result(settings_, &result);
    const auto end = Clock::now();
    busy_ += seconds_between(assemble, end);
    const double wall = seconds_between(start, end);
    spdlog::info("coordinator: {:.2f} s busy of {:.2f} s ({:.1f}%)", busy_, wall,
                 wall > 0 ? 100 * busy_ / wall : 0.0);
    return result;
  }

 private:
  using Key = std::tuple<int, int, int>;  // run, fold, slot (combination index; last: ensemble)

  int slots() const {
    return static_cast<int>(settings_.combinations.size()) + (plan_.with_ensemble() ? 1 : 0);
  }

  std::string name_of(const PlannedJob& job) const {
    switch (job.kind) {
      case JobKind::kBranch:
        return to_string(job.modality) + " branch";
      case JobKind::kCombination:
        return to_string(settings_.combinations[job.combo]);
      case JobKind::kEnsemble:
        return kEnsembleName;
    }
    return "";
  }

  int add(PlannedJob job, const std::vector<int>& needs) {
    const int id = static_cast<int>(jobs_.size());
    for (int n : needs) {
      jobs_[n].unlocks.push_back(id);
      ++job.waiting_for;
    }
    job.state = job.waiting_for == 0 ? JobState::kReady : JobState::kWaiting;
    jobs_.push_back(std::move(job));
    ++open_jobs_;
    return id;
  }

  // Every job of the search in the single-process order; finished ones (the store) are taken.
  void build_plan() {
    const int n_combos = static_cast<int>(settings_.combinations.size());
    for (int run = 0; run < plan_.runs(); ++run) {
      result_.run_seeds.push_back(plan_.run_seed(run));
      result_.fold_of_patient.push_back(plan_.fold_of_patient(run));
      if (cache_ != nullptr) cache_->splits(run, result_.fold_of_patient.back());
      for (int fold = 0; fold < plan_.folds(); ++fold) {
        fold_plans_.emplace(std::make_pair(run, fold), plan_.fold_plan(run, fold));
        std::vector<int> todo;  // combinations to compute
        for (int c = 0; c < n_combos; ++c) {
          if (take_stored(run, fold, c, to_string(settings_.combinations[c]))) continue;
          todo.push_back(c);
        }
        std::map<Modality, int> branch_job;
        for (Modality m : plan_.image_modalities()) {
          bool needed = false;
          for (int c : todo)
            for (Modality x : settings_.combinations[c]) needed = needed || x == m;
          if (!needed) continue;
          // A saved network is loaded where it is needed, as a resumed search loads it.
          const std::string path =
              cache_ != nullptr ? cache_->weights_path(run, fold, to_string(m)) : "";
          if (cache_ != nullptr && cache_->reuse_networks() && branch_saved(path)) continue;
          PlannedJob job;
          job.kind = JobKind::kBranch;
          job.run = run;
          job.fold = fold;
          job.modality = m;
          branch_job[m] = add(std::move(job), {});
        }
        std::vector<int> combo_jobs;
        for (int c : todo) {
          std::vector<int> needs;
          for (Modality m : settings_.combinations[c])
            if (const auto it = branch_job.find(m); it != branch_job.end())
              needs.push_back(it->second);
          PlannedJob job;
          job.run = run;
          job.fold = fold;
          job.combo = c;
          combo_jobs.push_back(add(std::move(job), needs));
        }
        if (plan_.with_ensemble() && !take_stored(run, fold, n_combos, kEnsembleName)) {
          PlannedJob job;
          job.kind = JobKind::kEnsemble;
          job.run = run;
          job.fold = fold;
          job.combo = n_combos;
          add(std::move(job), combo_jobs);
        }
      }
    }
  }

  bool take_stored(int run, int fold, int slot, const std::string& name) {
    if (cache_ == nullptr) return false;
    std::optional<JobRecord> job = cache_->find(run, fold, name);
    if (!job) return false;
    ++done_;
    if (progress_)
      progress_({done_, plan_.total_jobs(), job_line(done_, plan_.total_jobs(), *job, true)});
    records_.emplace(Key{run, fold, slot}, std::move(*job));
    return true;
  }

  // A finished combination or ensemble: stored, reported, and kept for the result.
  void finish(int id, JobRecord record, int rank) {
    PlannedJob& job = jobs_[id];
    test_kill_point("fit", done_);
    if (cache_ != nullptr) cache_->save(record);
    ++done_;
    if (progress_)
      progress_({done_, plan_.total_jobs(),
                 job_line(done_, plan_.total_jobs(), record, false,
                          rank > 0 ? fmt::format(", rank {}", rank) : "")});
    records_.emplace(Key{job.run, job.fold, job.combo}, std::move(record));
    complete(id);
  }

  void complete(int id) {
    PlannedJob& job = jobs_[id];
    job.state = JobState::kDone;
    --open_jobs_;
    for (int next : job.unlocks)
      if (--jobs_[next].waiting_for == 0 && jobs_[next].state == JobState::kWaiting)
        jobs_[next].state = JobState::kReady;
  }

  void handle(const Message& m) {
    WorkerView& w = workers_[m.source];
    w.last_heard = Clock::now();
    if (w.state == WorkerState::kLost) {
      // Slow, not dead: its old job went back to the queue; whichever result comes first counts.
      spdlog::warn("worker rank {} is back", m.source);
      w.state = w.job >= 0 ? WorkerState::kBusy : WorkerState::kIdle;
    }
    switch (m.tag) {
      case Tag::kReady:
        w.state = WorkerState::kIdle;
        spdlog::debug("worker rank {} ready", m.source);
        return;
      case Tag::kResult: {
        JobOutcome outcome = decode_outcome(m.bytes);
        w.state = WorkerState::kIdle;
        w.job = -1;
        if (outcome.id >= static_cast<int>(jobs_.size()))
          throw CodecError(
              fmt::format("rank {} answered job {}, which was never sent", m.source, outcome.id));
        PlannedJob& job = jobs_[outcome.id];
        if (job.state == JobState::kDone) return;  // a duplicate after a false alarm
        if (job.kind == JobKind::kBranch) {
          spdlog::debug("run {} fold {} {} trained on rank {} in {:.2f} s", job.run, job.fold,
                        name_of(job), m.source, outcome.seconds);
          complete(outcome.id);
        } else {
          if (!outcome.record)
            throw CodecError(fmt::format("rank {} answered combination job {} without its record",
                                         m.source, outcome.id));
          finish(outcome.id, std::move(*outcome.record), m.source);
        }
        return;
      }
      case Tag::kFailed: {
        const WorkerFailure failure = decode_failure(m.bytes);
        const std::string text = fmt::format("rank {}: {}", m.source, failure.message);
        if (failure.exit_code == kExitBadInput) throw InputError(text);
        throw std::runtime_error(text);
      }
      case Tag::kHeartbeat:
      default:
        return;
    }
  }

  // Ensembles are fitted here: milliseconds, on records rank 0 already holds.
  bool run_ensembles() {
    bool any = false;
    for (size_t id = 0; id < jobs_.size(); ++id) {
      PlannedJob& job = jobs_[id];
      if (job.kind != JobKind::kEnsemble || job.state != JobState::kReady) continue;
      FoldWork work(data_, settings_, nullptr, fold_plans_.at({job.run, job.fold}), progress_,
                    cache_);
      std::vector<const JobRecord*> members;
      for (int c = 0; c < job.combo; ++c) members.push_back(&records_.at({job.run, job.fold, c}));
      finish(static_cast<int>(id), work.ensemble(members), 0);
      any = true;
    }
    return any;
  }

  // The job for an idle worker, in this order (loading a network from disk costs as much as
  // embedding every image of the fold again, so jobs go where their branches are):
  //   1. a branch of the fold it worked on last (every combination of the fold waits for them);
  //   2. a combination of a fold it holds that needs no branch it lacks;
  //   3. a branch of any fold (training is the critical path);
  //   4. a combination of a fold it holds; 5. any combination.
  int pick(const WorkerView& w) const {
    constexpr int kNone = 6;
    int best = -1;
    int best_rank = kNone;
    for (size_t id = 0; id < jobs_.size() && best_rank > 1; ++id) {
      const PlannedJob& job = jobs_[id];
      if (job.state != JobState::kReady || job.kind == JobKind::kEnsemble) continue;
      const FoldKey key{job.run, job.fold};
      const std::set<Modality>* held = nullptr;
      for (const auto& [fold, branches] : w.held)
        if (fold == key) held = &branches;
      int rank = 5;
      if (job.kind == JobKind::kBranch) {
        rank = !w.held.empty() && w.held.back().first == key ? 1 : 3;
      } else if (held != nullptr) {
        bool all_held = true;
        for (Modality m : settings_.combinations[job.combo])
          all_held = all_held && (!is_image(m) || held->count(m) > 0);
        rank = all_held ? 2 : 4;
      }
      if (rank < best_rank) {
        best_rank = rank;
        best = static_cast<int>(id);
      }
    }
    return best;
  }

  bool dispatch() {
    bool any = false;
    for (int r = 1; r < cluster_.size; ++r) {
      WorkerView& w = workers_[r];
      if (w.state != WorkerState::kIdle) continue;
      const int id = pick(w);
      if (id < 0) break;
      PlannedJob& job = jobs_[id];
      JobOrder order;
      order.id = id;
      order.kind =
          job.kind == JobKind::kBranch ? JobOrderKind::kBranch : JobOrderKind::kCombination;
      order.run = job.run;
      order.fold = job.fold;
      order.modality = job.modality;
      order.combination = job.combo;
      cluster_.post(r, Tag::kJob, encode_order(order));
      job.state = JobState::kRunning;
      job.worker = r;
      ++job.attempts;
      w.state = WorkerState::kBusy;
      w.job = id;
      std::set<Modality>& held = touch(w.held, {job.run, job.fold});
      if (job.kind == JobKind::kBranch) held.insert(job.modality);
      if (job.kind == JobKind::kCombination)
        for (Modality m : settings_.combinations[job.combo])
          if (is_image(m)) held.insert(m);
      spdlog::debug("rank {} <- run {} fold {} {}", r, job.run, job.fold, name_of(job));
      any = true;
    }
    return any;
  }

  void check_workers() {
    const auto now = Clock::now();
    int alive = 0;
    for (int r = 1; r < cluster_.size; ++r) {
      WorkerView& w = workers_[r];
      if (w.state != WorkerState::kLost && now - w.last_heard > timeout_) {
        w.state = WorkerState::kLost;
        cluster_.forget(r);
        std::string what = "";
        if (w.job >= 0 && jobs_[w.job].state == JobState::kRunning) {
          PlannedJob& job = jobs_[w.job];
          job.state = JobState::kReady;
          job.worker = -1;
          what = fmt::format("; its job (run {} fold {} {}) goes back to the queue", job.run,
                             job.fold, name_of(job));
        }
        spdlog::warn("worker rank {} lost (silent for {} s){}", r,
                     std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(), what);
      }
      if (w.state != WorkerState::kLost) ++alive;
    }
    if (alive == 0)
      throw std::runtime_error(fmt::format(
          "every worker rank is lost; the store keeps every finished job: rerun with --resume "
          "auto (under {} a lost worker does not end the job)",
          kRecoveryFlags));
  }

  const Dataset& data_;
  const SearchSettings& settings_;
  const ProgressFn& progress_;
  JobCache* cache_;
  Cluster::Impl& cluster_;
  SearchPlan plan_;
  Clock::duration timeout_;
  std::vector<PlannedJob> jobs_;
  std::vector<WorkerView> workers_;
  std::map<std::pair<int, int>, FoldPlan> fold_plans_;
  std::map<Key, JobRecord> records_;
  SearchResult result_;
  int open_jobs_ = 0;
  int done_ = 0;
  double busy_ = 0;  // seconds spent planning, handling messages, storing, dispatching
};

}  // namespace

SearchResult run_search_coordinator(const Dataset& data, const SearchSettings& settings,
                                    const ProgressFn& progress, JobCache* cache, Cluster& cluster) {
  Coordinator coordinator(data, settings, progress, cache, cluster);
  return coordinator.run();
}

}  // namespace woundphase

#endif  // WOUNDPHASE_HAVE_MPI
