// Ranks 1..N-1 of a distributed search: check that they see rank 0's settings and data, prepare
// the images, then compute the jobs rank 0 sends (training an image branch, or a combination of a
// fold) until it says stop, keeping the last folds' branches in memory. Never writes the store.
#ifdef WOUNDPHASE_HAVE_MPI

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>  // for min, max
#include <atomic>
#include <condition_variable>
#include <cstdlib>  // for getenv, setenv, _Exit
#include <deque>
#include <mutex>
#include <thread>

#include "cluster/transport.h"
#include "experiment/fold.h"
#include "experiment/search_plan.h"
#include "woundphase/store.h"  // for branch_weights_path, stored_search_settings

namespace woundphase {
namespace {

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
  const int local = launched_local_rank();
  const std::string& mine = devices[static_cast<size_t>(std::max(local, 0)) % devices.size()];
  setenv("CUDA_VISIBLE_DEVICES", mine.c_str(), 1);
  spdlog::debug("rank {}: GPU {} (local rank {})", rank, mine, local);
}

int fail(Cluster::Impl& cluster, Heartbeat* heartbeat, const std::string& message, int exit_code) {
  cluster.send(0, Tag::kFailed, encode_failure({message, exit_code}));
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
    if (decode_start(order.bytes) != mine)
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
      const JobOrder job = decode_order(order.bytes);
      test_kill_point(kill_point.c_str(), done);
      const auto start = Clock::now();
      FoldWork& work = fold_work(job.run, job.fold);
      JobOutcome outcome;
      outcome.id = job.id;
      if (job.kind == JobOrderKind::kBranch) {
        cache.set_reuse(false);
        work.prepare_branch(job.modality);
      } else {
        cache.set_reuse(true);
        outcome.record = work.compute(settings.combinations.at(job.combination));
      }
      outcome.seconds = seconds_between(start, Clock::now());
      c.send(0, Tag::kResult, encode_outcome(outcome));
    }
  } catch (const InputError& e) {
    return fail(c, &heartbeat, e.what(), kExitBadInput);
  } catch (const std::exception& e) {
    return fail(c, &heartbeat, e.what(), kExitInternal);
  }
}

}  // namespace woundphase

#endif  // WOUNDPHASE_HAVE_MPI
