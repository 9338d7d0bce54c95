// The experiment store: one SQLite database per output folder (OUT/woundphase.db) holding the
// run's settings, data fingerprint, versions, splits and every finished job with its metrics,
// timing and predictions. CSV outputs are exports of it; resuming reads it.
#pragma once

#include <memory>  // for unique_ptr
#include <mutex>   // for recursive_mutex
#include <optional>
#include <string>
#include <vector>

#include "woundphase/search.h"  // for SearchResult, JobRecord, RemoteSearch

namespace woundphase {

// The predecessor's --resume modes.
enum class ResumeMode {
  kFresh,            // discard everything stored in this output folder
  kAuto,             // keep finished jobs, run only unfinished ones
  kFromData,         // keep the decoded image cache; retrain every model
  kFromModels,       // keep saved model weights; recompute predictions and metrics
  kFromPredictions,  // keep per-combination predictions; recompute metrics (and ensembles)
};
ResumeMode parse_resume(const std::string& text);  // throws InputError listing the modes
std::string to_string(ResumeMode m);

class Store {
 public:
  // Opens or creates `path`. Throws InputError when the folder is unwritable or the file is not a
  // woundphase store.
  static std::unique_ptr<Store> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::optional<std::string> meta(const std::string& key) const;
  void set_meta(const std::string& key, const std::string& value);

  void save_splits(int run, const std::vector<int>& fold_of_patient,
                   const std::vector<std::string>& patients);
  std::optional<std::vector<int>> load_splits(int run, size_t n_patients) const;

  // Every finished job, or one of them.
  std::optional<JobRecord> load_job(int run, int fold, const std::string& modalities) const;
  // Records a finished job, its metrics and predictions in one transaction: all or nothing.
  void save_job(const JobRecord& job);
  int count_jobs() const;
  // Held by every write of every store of this process: an interrupt handler that takes it
  // waits for the transaction in flight and lets no other begin.
  static std::recursive_mutex& write_lock();
  // Total times any job was computed (sum of attempts): resume tests read it.
  int total_attempts() const;

  // Drops jobs (keeps settings and splits) / predictions-only recomputation support.
  void clear_jobs();
  void clear_all();

 private:
  Store() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct StoredSearchSettings {
  ResumeMode resume = ResumeMode::kAuto;
};

// A search backed by the store in `out_dir`: checks that a stored run used the same settings and
// data (else InputError listing the differences, unless fresh), reuses finished jobs, commits each
// new job as it finishes, then exports the CSV files from the store.
// With `remote` (Cluster: rank 0 of an mpirun) the jobs run on the other ranks; this process alone
// writes the store and the outputs.
SearchResult run_stored_search(const Dataset& data, const SearchSettings& settings,
                               const std::string& out_dir, ResumeMode resume,
                               const ProgressFn& progress = nullptr,
                               RemoteSearch* remote = nullptr);

// Where a stored search in `out_dir` keeps the network of the image branch of (run, fold,
// modality), and the settings it searches with (decoded crops cached in OUT/image_cache unless
// the settings name a folder): every process of a distributed search uses the same.
std::string branch_weights_path(const std::string& out_dir, int run, int fold,
                                const std::string& modality);
SearchSettings stored_search_settings(const SearchSettings& settings, const std::string& out_dir);

// A search that stopped before its outputs (Ctrl-C, a crash): the plan its stored settings
// describe and which jobs of it the store holds.
struct UnfinishedSearch {
  struct Job {
    int run = 0;
    int fold = 0;
    std::string modalities;
    double qwk = 0;  // finished jobs: the test QWK
    int n_test = 0;
  };
  std::string out_dir;
  int runs = 0;
  int folds = 0;
  std::vector<std::string> combinations;  // the ensemble's row included when it was asked for
  std::vector<Job> finished;
  std::vector<Job> missing;
  int planned() const;
  // One line for the terminal: counts, the first missing jobs, what to do.
  std::string summary() const;
  // A self-contained page: the finished jobs' test QWK per combination and fold, what is missing.
  std::string html() const;
};
// Reads OUT/woundphase.db; InputError naming the folder when it holds no store or no search.
UnfinishedSearch read_unfinished_search(const std::string& out_dir);

}  // namespace woundphase
