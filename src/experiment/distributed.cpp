// The search over the ranks of an mpirun (cluster.h). Rank 0 plans the jobs, hands each ready job
// to a free worker, stores finished jobs and computes the fold ensembles (milliseconds, fitted on
// jobs it already holds); workers compute image branches and combinations.
//
// What travels how:
//   - a finished combination (JobRecord: metrics, predictions, curve) comes to rank 0 by message,
//     MessagePack-encoded JSON (doubles are written as 64-bit floats, NaN included: exact);
//   - an image branch's network is saved by the worker that trained it under OUT/models on the
//     shared filesystem, where the workers computing the fold's combinations load it, as a resumed
//     search does. Networks can be hundreds of megabytes at 128x128 and each is needed by several
//     combinations on other ranks; the output folder is shared on every cluster anyway, and a
//     network on disk also survives rank 0 (--resume auto then skips its training).
// Failure detection: every rank sends a heartbeat each second; rank 0 counts a worker silent for
// WOUNDPHASE_MPI_TIMEOUT seconds (default 60) as lost and puts its job back in the queue (Open
// MPI 4 without ULFM does not report a dead peer; mpirun --enable-recovery keeps the others
// running). A worker that hears nothing from rank 0 that long exits: rerun with --resume auto.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>  // for getenv, setenv, _Exit
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "experiment/fold.h"
#include "experiment/search_plan.h"
#include "woundphase/cluster.h"
#include "woundphase/store.h"

#ifdef WOUNDPHASE_HAVE_MPI
#include <mpi.h>
#endif

namespace woundphase {
namespace {

// Environment variables launchers set: the number of ranks, this rank, the rank on this node.
constexpr const char* kSizeVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                          "SLURM_STEP_NUM_TASKS"};
constexpr const char* kRankVariables[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"};
constexpr const char* kLocalRankVariables[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                               "SLURM_LOCALID"};
// Slurm's task count also describes non-MPI steps: it counts only inside an MPI step, which is
// what the PMIx/PMI variables say.
constexpr const char* kMpiStepVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                             "PMI_RANK"};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n < (1 << 24) ? static_cast<int>(n) : fallback;
}

bool in_mpi_step() {
  for (const char* name : kMpiStepVariables)
    if (std::getenv(name) != nullptr) return true;
  return false;
}

}  // namespace

int launched_ranks() {
  if (!in_mpi_step()) return 1;
  for (const char* name : kSizeVariables)
    if (const int n = env_int(name, 0); n > 0) return n;
  return 1;
}

int launched_rank() {
  if (!in_mpi_step()) return 0;
  for (const char* name : kRankVariables)
    if (const int n = env_int(name, -1); n >= 0) return n;
  return 0;
}

#ifndef WOUNDPHASE_HAVE_MPI

// Built without MPI: a single process searches alone; several ranks would all write the same
// store, so they are refused.
struct Cluster::Impl {};

std::unique_ptr<Cluster> Cluster::join() {
  if (launched_ranks() <= 1) return nullptr;
  throw InputError(
      fmt::format("started as one of {} ranks, but this woundphase was built without MPI (install "
                  "libopenmpi-dev and rebuild: scripts/setup.sh test, make); run it without mpirun",
                  launched_ranks()));
}
Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() = default;
void Cluster::finish(int /*exit_code*/) {}
int Cluster::rank() const { return 0; }
int Cluster::size() const { return 1; }
int run_search_worker(const Dataset&, const SearchSettings&, const std::string&, Cluster&) {
  throw std::logic_error("run_search_worker without MPI");
}
int report_worker_failure(Cluster&, const std::string&, int exit_code) { return exit_code; }
SearchResult run_search_coordinator(const Dataset&, const SearchSettings&, const ProgressFn&,
                                    JobCache*, Cluster&) {
  throw std::logic_error("run_search_coordinator without MPI");
}

#else  // WOUNDPHASE_HAVE_MPI

namespace {

using Clock = std::chrono::steady_clock;

// A waiting rank sleeps this long between probes: Open MPI's blocking receive polls, and a
// coordinator spinning a core would slow the workers sharing its machine.
constexpr auto kPollInterval = std::chrono::milliseconds(5);
// How often each rank tells the other side it is alive.
constexpr auto kHeartbeatInterval = std::chrono::seconds(1);
// Silence after which a peer counts as lost (WOUNDPHASE_MPI_TIMEOUT overrides, in seconds): long
// enough for a loaded machine, short enough that a lost job restarts soon.
constexpr int kDefaultTimeoutSeconds = 60;
constexpr char kTimeoutVariable[] = "WOUNDPHASE_MPI_TIMEOUT";
// How long rank 0 waits for its stop messages to leave before finalising.
constexpr auto kStopGrace = std::chrono::seconds(5);
// Folds whose loaded branches a worker keeps, so the next combination of a fold reuses them.
constexpr size_t kKeptFolds = 2;
constexpr int kExitInternal = 1;
constexpr char kRecoveryFlags[] = "mpirun --enable-recovery";

// Message tags.
enum class Tag : int {
  kStart = 1,  // rank 0 -> worker: settings and data fingerprint to check; begin preparing
  kReady,      // worker -> rank 0: images prepared, give me a job
  kJob,        // rank 0 -> worker: one job
  kResult,     // worker -> rank 0: the job's result
  kFailed,     // worker -> rank 0: a job or the worker's start failed (message, exit code)
  kHeartbeat,  // either way, every kHeartbeatInterval
  kStop,       // rank 0 -> worker: no more jobs
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Clock::duration peer_timeout() {
  return std::chrono::seconds(env_int(kTimeoutVariable, kDefaultTimeoutSeconds));
}

std::string encode(const nlohmann::json& j) {
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

nlohmann::json decode(const std::string& bytes) { return nlohmann::json::from_msgpack(bytes); }

// ---- JobRecord <-> JSON (exact: MessagePack keeps every double's 64 bits) ----------------------

nlohmann::json scores_json(const Scores& s) {
  return {s.qwk, s.kappa, s.accuracy, s.macro_f1, s.f1, s.confusion, s.n};
}
Scores scores_from(const nlohmann::json& j) {
  Scores s;
  s.qwk = j.at(0).get<double>();
  s.kappa = j.at(1).get<double>();
  s.accuracy = j.at(2).get<double>();
  s.macro_f1 = j.at(3).get<double>();
  s.f1 = j.at(4).get<std::array<double, kNumClasses> >();
  s.confusion = j.at(5).get<Confusion>();
  s.n = j.at(6).get<long>();
  return s;
}

nlohmann::json rows_json(const std::vector<PredictionRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const PredictionRow& p : rows)
    out.push_back({p.run, p.fold, p.modalities, p.row, p.prob, p.pred});
  return out;
}
std::vector<PredictionRow> rows_from(const nlohmann::json& j) {
  std::vector<PredictionRow> out;
  for (const auto& r : j) {
    PredictionRow p;
    p.run = r.at(0).get<int>();
    p.fold = r.at(1).get<int>();
    p.modalities = r.at(2).get<std::string>();
    p.row = r.at(3).get<int>();
    p.prob = r.at(4).get<std::array<double, kNumClasses> >();
    p.pred = r.at(5).get<int>();
    out.push_back(std::move(p));
  }
  return out;
}

nlohmann::json job_json(const JobRecord& job) {
  const FoldResult& r = job.result;
  nlohmann::json stages = nlohmann::json::array();
  for (const StageResult& s : r.stages)
    stages.push_back({s.stage, scores_json(s.scores), s.val_qwk, s.kept});
  nlohmann::json curve = nlohmann::json::array();
  for (const CurvePoint& c : job.curve)
    curve.push_back({c.component, c.epoch, c.loss, c.val_loss, c.val_qwk});
  return {{"run", r.run},
          {"seed", r.seed},
          {"fold", r.fold},
          {"modalities", r.modalities},
          {"n_train", r.n_train},
          {"n_test", r.n_test},
          {"scores", scores_json(r.scores)},
          {"stages", stages},
          {"test", rows_json(job.test)},
          {"oof", rows_json(job.oof)},
          {"curve", curve},
          {"cleaning", cleaning_json(job.cleaning)},
          {"tuned", job.result.tuned},
          {"weights", job.weights},
          {"seconds", job.seconds},
          {"attempt", job.attempt}};
}

JobRecord job_from(const nlohmann::json& j) {
  JobRecord job;
  FoldResult& r = job.result;
  r.run = j.at("run").get<int>();
  r.seed = j.at("seed").get<unsigned long long>();
  r.fold = j.at("fold").get<int>();
  r.modalities = j.at("modalities").get<std::string>();
  r.n_train = j.at("n_train").get<int>();
  r.n_test = j.at("n_test").get<int>();
  r.scores = scores_from(j.at("scores"));
  for (const auto& s : j.at("stages"))
    r.stages.push_back(StageResult{s.at(0).get<std::string>(), scores_from(s.at(1)),
                                   s.at(2).get<double>(), s.at(3).get<bool>()});
  job.test = rows_from(j.at("test"));
  job.oof = rows_from(j.at("oof"));
  job.cleaning = cleaning_from(j.at("cleaning"));
  r.tuned = j.at("tuned").get<std::string>();
  for (const auto& c : j.at("curve"))
    job.curve.push_back(CurvePoint{c.at(0).get<std::string>(), c.at(1).get<int>(),
                                   c.at(2).get<double>(), c.at(3).get<double>(),
                                   c.at(4).get<double>()});
  job.weights = j.at("weights").get<std::string>();
  job.seconds = j.at("seconds").get<double>();
  job.attempt = j.at("attempt").get<int>();
  return job;
}

struct Message {
  int source = 0;
  Tag tag = Tag::kHeartbeat;
  std::string bytes;
};

// What rank 0 and each worker check before working together: the same settings and data.
nlohmann::json start_record(const Dataset& data, const SearchSettings& settings) {
  return {{"settings", settings.to_json()},
          {"fingerprint", file_fingerprint(data.metadata_path)},
          {"rows", data.rows.size()}};
}

}  // namespace

// MPI is initialised with MPI_THREAD_SERIALIZED: a worker's heartbeat thread and its main thread
// take turns through `mutex`, and nobody holds it while waiting.
struct Cluster::Impl {
  int rank = 0;
  int size = 1;
  std::mutex mutex;
  bool finalised = false;
  bool workers_started = false;  // rank 0 sent the start message: workers may be computing
  bool released = false;         // rank 0 told every worker to stop
  // Rank 0's sends in flight (never blocking: a lost worker must not stall the coordinator).
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::unique_ptr<std::string> bytes;
    int dest = 0;
  };
  std::vector<Pending> outbox;
  std::vector<std::unique_ptr<std::string> > abandoned;  // buffers of sends given up

  void post(int dest, Tag tag, std::string bytes) {
    Pending p;
    p.bytes = std::make_unique<std::string>(std::move(bytes));
    p.dest = dest;
    std::lock_guard<std::mutex> lock(mutex);
    MPI_Isend(p.bytes->data(), static_cast<int>(p.bytes->size()), MPI_BYTE, dest,
              static_cast<int>(tag), MPI_COMM_WORLD, &p.request);
    outbox.push_back(std::move(p));
  }
  // Drops completed sends; true when none is left.
  bool flush() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<Pending> left;
    for (Pending& p : outbox) {
      int done = 0;
      if (MPI_Test(&p.request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done == 0)
        left.push_back(std::move(p));
    }
    outbox = std::move(left);
    return outbox.empty();
  }
  // Gives up the sends to a lost rank (their buffers stay: MPI may still read them).
  void forget(int dest) {
    std::lock_guard<std::mutex> lock(mutex);
    for (Pending& p : outbox)
      if (p.dest == dest && p.request != MPI_REQUEST_NULL) {
        MPI_Request_free(&p.request);
        abandoned.push_back(std::move(p.bytes));
      }
    outbox.erase(std::remove_if(outbox.begin(), outbox.end(),
                                [](const Pending& p) { return p.request == MPI_REQUEST_NULL; }),
                 outbox.end());
  }

  // A send that waits for completion without holding the lock (a worker's result).
  void send(int dest, Tag tag, const std::string& bytes) {
    MPI_Request request = MPI_REQUEST_NULL;
    {
      std::lock_guard<std::mutex> lock(mutex);
      MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, static_cast<int>(tag),
                MPI_COMM_WORLD, &request);
    }
    while (true) {
      int done = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
      }
      if (done != 0) return;
      std::this_thread::sleep_for(kPollInterval);
    }
  }

  // The next message from `source` (MPI_ANY_SOURCE) with `tag` (MPI_ANY_TAG), if one is there.
  std::optional<Message> receive(int source, int tag) {
    std::lock_guard<std::mutex> lock(mutex);
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &status) != MPI_SUCCESS || flag == 0)
      return std::nullopt;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    Message m;
    m.source = status.MPI_SOURCE;
    m.tag = static_cast<Tag>(status.MPI_TAG);
    m.bytes.resize(static_cast<size_t>(count));
    MPI_Recv(m.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    return m;
  }

  // Rank 0: tells every worker to stop and lets the messages leave (lost workers never take
  // theirs: after kStopGrace they are given up).
  void release() {
    if (released) return;
    released = true;
    for (int r = 1; r < size; ++r) post(r, Tag::kStop, "");
    const auto deadline = Clock::now() + kStopGrace;
    while (!flush() && Clock::now() < deadline) std::this_thread::sleep_for(kPollInterval);
    for (int r = 1; r < size; ++r) forget(r);
  }
};

std::unique_ptr<Cluster> Cluster::join() {
  if (launched_ranks() <= 1) return nullptr;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  auto impl = std::make_unique<Impl>();
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw std::runtime_error(
        "this MPI library cannot give MPI_THREAD_SERIALIZED (a worker's heartbeat thread needs "
        "it)");
  }
  // Errors come back as codes: a send to a lost rank must not abort the search.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &impl->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &impl->size);
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void Cluster::finish(int exit_code) {
  if (impl_->finalised) return;
  impl_->finalised = true;
  if (coordinator()) {
    // Workers in the middle of a job would only see the stop after it: end them now.
    if (exit_code != 0 && impl_->workers_started && !impl_->released)
      MPI_Abort(MPI_COMM_WORLD, exit_code);
    impl_->release();
  }
  MPI_Finalize();
}

Cluster::~Cluster() { finish(0); }

int Cluster::rank() const { return impl_->rank; }
int Cluster::size() const { return impl_->size; }

// ---- Rank 0 ------------------------------------------------------------------------------------

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
using FoldKey = std::pair<int, int>;
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
    const std::string hello = encode(start_record(data_, settings_));
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
        const nlohmann::json j = decode(m.bytes);
        const int id = j.at("id").get<int>();
        w.state = WorkerState::kIdle;
        w.job = -1;
        PlannedJob& job = jobs_.at(id);
        if (job.state == JobState::kDone) return;  // a duplicate after a false alarm
        if (job.kind == JobKind::kBranch) {
          spdlog::debug("run {} fold {} {} trained on rank {} in {:.2f} s", job.run, job.fold,
                        name_of(job), m.source, j.at("seconds").get<double>());
          complete(id);
        } else {
          finish(id, job_from(j.at("record")), m.source);
        }
        return;
      }
      case Tag::kFailed: {
        const nlohmann::json j = decode(m.bytes);
        const std::string text =
            fmt::format("rank {}: {}", m.source, j.at("message").get<std::string>());
        if (j.at("exit_code").get<int>() == 2) throw InputError(text);
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
      nlohmann::json message = {{"id", id},
                                {"kind", job.kind == JobKind::kBranch ? "branch" : "combination"},
                                {"run", job.run},
                                {"fold", job.fold},
                                {"modality", static_cast<int>(job.modality)},
                                {"combination", job.combo}};
      cluster_.post(r, Tag::kJob, encode(message));
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

// ---- Workers -----------------------------------------------------------------------------------

// A worker's view of the store: where networks are, never a finished job (rank 0 decides which
// jobs run) and never a write.
class WorkerCache : public JobCache {
 public:
  explicit WorkerCache(std::string out_dir) : out_dir_(std::move(out_dir)) {}
  std::optional<JobRecord> find(int, int, const std::string&) override { return std::nullopt; }
  void save(const JobRecord&) override {}
  void splits(int, const std::vector<int>&) override {}
  std::string weights_path(int run, int fold, const std::string& modality) override {
    return branch_weights_path(out_dir_, run, fold, modality);
  }
  bool reuse_networks() override { return reuse_; }
  // Branch jobs train (rank 0 sends one only when the network must be trained); combinations
  // load the networks their branch jobs saved.
  void set_reuse(bool reuse) { reuse_ = reuse; }

 private:
  std::string out_dir_;
  bool reuse_ = true;
};

// Sends heartbeats to rank 0 and ends the process when rank 0 has been silent too long.
class Heartbeat {
 public:
  Heartbeat(Cluster::Impl& cluster) : cluster_(cluster), timeout_(peer_timeout()) {
    heard_ = Clock::now().time_since_epoch().count();
    thread_ = std::thread([this] { loop(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(stop_mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void heard() { heard_ = Clock::now().time_since_epoch().count(); }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    while (!wake_.wait_for(lock, kHeartbeatInterval, [this] { return stop_; })) {
      while (auto m = cluster_.receive(0, static_cast<int>(Tag::kHeartbeat))) heard();
      const auto silent = Clock::now() - Clock::time_point(Clock::duration(heard_.load()));
      if (silent > timeout_) {
        spdlog::error(
            "no word from the coordinator (rank 0) for {} s: stopping. The store keeps every "
            "finished job: rerun the same command with --resume auto",
            std::chrono::duration_cast<std::chrono::seconds>(silent).count());
        std::_Exit(kExitInternal);
      }
      // Isend: a 0-byte heartbeat to a lost rank 0 must not block this thread.
      MPI_Request request;
      std::lock_guard<std::mutex> mpi(cluster_.mutex);
      MPI_Isend(nullptr, 0, MPI_BYTE, 0, static_cast<int>(Tag::kHeartbeat), MPI_COMM_WORLD,
                &request);
      MPI_Request_free(&request);
    }
  }

  Cluster::Impl& cluster_;
  Clock::duration timeout_;
  std::atomic<Clock::rep> heard_{0};
  std::mutex stop_mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Waits for rank 0's next message other than a heartbeat.
Message next_order(Cluster::Impl& cluster, Heartbeat& heartbeat) {
  while (true) {
    if (auto m = cluster.receive(0, MPI_ANY_TAG)) {
      heartbeat.heard();
      if (m->tag != Tag::kHeartbeat) return *m;
      continue;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// With CUDA, one GPU per rank: a worker narrows a CUDA_VISIBLE_DEVICES list to the entry of its
// rank on this node (before libtorch is loaded, which reads it). Without a list, the launcher's
// binding decides (e.g. srun --gpus-per-task=1).
void pick_gpu(const SearchSettings& settings, int rank) {
  if (settings.images.vision.device == VisionDevice::kCpu) return;
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible == nullptr) return;
  std::vector<std::string> devices;
  std::string text = visible;
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) devices.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  if (devices.size() < 2) return;
  int local = 0;
  for (const char* name : kLocalRankVariables)
    if ((local = env_int(name, -1)) >= 0) break;
  const std::string& mine = devices[static_cast<size_t>(std::max(local, 0)) % devices.size()];
  setenv("CUDA_VISIBLE_DEVICES", mine.c_str(), 1);
  spdlog::debug("rank {}: GPU {} (local rank {})", rank, mine, local);
}

int fail(Cluster::Impl& cluster, Heartbeat* heartbeat, const std::string& message, int exit_code) {
  cluster.send(0, Tag::kFailed, encode({{"message", message}, {"exit_code", exit_code}}));
  // Rank 0 ends the search; stay until it says stop (or aborts the job).
  if (heartbeat != nullptr) {
    while (next_order(cluster, *heartbeat).tag != Tag::kStop) {
    }
    return exit_code;
  }
  Heartbeat own(cluster);
  while (next_order(cluster, own).tag != Tag::kStop) {
  }
  return exit_code;
}

}  // namespace

SearchResult run_search_coordinator(const Dataset& data, const SearchSettings& settings,
                                    const ProgressFn& progress, JobCache* cache, Cluster& cluster) {
  Coordinator coordinator(data, settings, progress, cache, cluster);
  return coordinator.run();
}

int report_worker_failure(Cluster& cluster, const std::string& message, int exit_code) {
  return fail(cluster.impl(), nullptr, message, exit_code);
}

int run_search_worker(const Dataset& data, const SearchSettings& user_settings,
                      const std::string& out_dir, Cluster& cluster) {
  Cluster::Impl& c = cluster.impl();
  spdlog::default_logger()->set_pattern(fmt::format("[%H:%M:%S] rank {}: %^%v%$", c.rank));
  const SearchSettings settings = stored_search_settings(user_settings, out_dir);
  Heartbeat heartbeat(c);
  Message order = next_order(c, heartbeat);
  if (order.tag == Tag::kStop) return 0;
  try {
    const nlohmann::json mine = start_record(data, settings);
    if (decode(order.bytes) != mine)
      throw InputError(
          "this rank sees other data or settings than rank 0: every rank must read the same "
          "study folder (on the shared filesystem) with the same options");
    pick_gpu(settings, c.rank);
    std::unique_ptr<ImageInputs> images;
    if (settings.uses_images()) images = prepare_images(data, settings, nullptr);
    SearchPlan plan(data, settings);
    WorkerCache cache(out_dir);
    // The folds whose branches this rank holds, least recently used first (rank 0 mirrors it).
    std::deque<std::pair<FoldKey, std::unique_ptr<FoldWork> > > folds;
    auto fold_work = [&](int run, int fold) -> FoldWork& {
      for (auto it = folds.begin(); it != folds.end(); ++it)
        if (it->first == FoldKey{run, fold}) {
          auto entry = std::move(*it);
          folds.erase(it);
          folds.push_back(std::move(entry));
          return *folds.back().second;
        }
      if (folds.size() == kKeptFolds) folds.pop_front();
      folds.emplace_back(std::make_pair(run, fold),
                         std::make_unique<FoldWork>(data, settings, images.get(),
                                                    plan.fold_plan(run, fold), nullptr, &cache));
      return *folds.back().second;
    };
    const std::string kill_point = fmt::format("worker{}_job", c.rank);
    c.send(0, Tag::kReady, "");
    for (int done = 0;; ++done) {
      order = next_order(c, heartbeat);
      if (order.tag == Tag::kStop) return 0;
      if (order.tag != Tag::kJob) continue;
      const nlohmann::json job = decode(order.bytes);
      test_kill_point(kill_point.c_str(), done);
      const auto start = Clock::now();
      FoldWork& work = fold_work(job.at("run").get<int>(), job.at("fold").get<int>());
      nlohmann::json result = {{"id", job.at("id")}};
      if (job.at("kind") == "branch") {
        cache.set_reuse(false);
        work.prepare_branch(static_cast<Modality>(job.at("modality").get<int>()));
      } else {
        cache.set_reuse(true);
        const JobRecord record =
            work.compute(settings.combinations.at(job.at("combination").get<size_t>()));
        result["record"] = job_json(record);
      }
      result["seconds"] = seconds_between(start, Clock::now());
      c.send(0, Tag::kResult, encode(result));
    }
  } catch (const InputError& e) {
    return fail(c, &heartbeat, e.what(), 2);
  } catch (const std::exception& e) {
    return fail(c, &heartbeat, e.what(), kExitInternal);
  }
}

#endif  // WOUNDPHASE_HAVE_MPI

}  // namespace woundphase
