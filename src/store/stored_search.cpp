// The stored (resumable) search: a search whose jobs the store in its output folder keeps, checked
// against the stored settings and data, resumed by --resume mode.
#include <fmt/format.h>
#include <sqlite3.h>  // for sqlite3_libversion

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "woundphase/enum_names.h"
#include "woundphase/files.h"  // for file_fingerprint
#include "woundphase/store.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr const char* kStoreFile = "woundphase.db";
constexpr const char* kImageCacheDir = "image_cache";
constexpr const char* kModelsDir = "models";

// Flattens a JSON object into "a.b" -> value text, for listing differences.
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::map<std::string, std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  (*out)[prefix] = j.dump();
}

std::vector<std::string> differences(const nlohmann::json& stored, const nlohmann::json& now) {
  std::map<std::string, std::string> a;
  std::map<std::string, std::string> b;
  flatten(stored, "", &a);
  flatten(now, "", &b);
  std::vector<std::string> out;
  for (const auto& [k, v] : a) {
    const auto it = b.find(k);
    if (it == b.end()) {
      out.push_back(fmt::format("{}: stored {}, now absent", k, v));
    } else if (it->second != v) {
      out.push_back(fmt::format("{}: stored {}, now {}", k, v, it->second));
    }
  }
  for (const auto& [k, v] : b)
    if (a.find(k) == a.end()) out.push_back(fmt::format("{}: not stored, now {}", k, v));
  return out;
}

}  // namespace

namespace {

constexpr EnumNames<ResumeMode, 5> kResumeNames(
    "--resume", {{{ResumeMode::kFresh, "fresh"},
                  {ResumeMode::kAuto, "auto"},
                  {ResumeMode::kFromData, "from_data"},
                  {ResumeMode::kFromModels, "from_models"},
                  {ResumeMode::kFromPredictions, "from_predictions"}}});

}  // namespace

ResumeMode parse_resume(const std::string& text) { return kResumeNames.parse(text); }
std::string to_string(ResumeMode m) { return kResumeNames.name(m); }

namespace {

// The store as the search's job cache. With `recompute_metrics`, stored jobs' metrics are
// recomputed from their stored predictions (from_predictions).
class StoreCache : public JobCache {
 public:
  StoreCache(Store* store, const Dataset& data, ResumeMode mode, std::string out_dir)
      : store_(store),
        data_(data),
        recompute_(mode == ResumeMode::kFromPredictions),
        from_models_(mode == ResumeMode::kFromModels),
        reuse_networks_(mode == ResumeMode::kAuto || mode == ResumeMode::kFromModels),
        out_dir_(std::move(out_dir)) {}

  std::string weights_path(int run, int fold, const std::string& modalities) override {
    return branch_weights_path(out_dir_, run, fold, modalities);
  }

  bool reuse_networks() override { return reuse_networks_; }

  std::optional<JobRecord> find(int run, int fold, const std::string& modalities) override {
    // from_models recomputes every job: image jobs from their saved networks, tree jobs by
    // refitting.
    if (from_models_) return std::nullopt;
    auto job = store_->load_job(run, fold, modalities);
    if (job && recompute_) {
      std::vector<int> truth;
      std::vector<int> pred;
      for (const auto& p : job->test) {
        truth.push_back(data_.rows[p.row].label);
        pred.push_back(p.pred);
      }
      job->result.scores = score(truth, pred);
    }
    if (job) ++reused_;
    return job;
  }
  void save(const JobRecord& job) override { store_->save_job(job); }
  void splits(int run, const std::vector<int>& fold_of_patient) override {
    const auto stored = store_->load_splits(run, fold_of_patient.size());
    if (stored && *stored != fold_of_patient)
      throw std::runtime_error(
          fmt::format("run {}: the stored patient folds differ from the recomputed ones", run));
    if (!stored) store_->save_splits(run, fold_of_patient, data_.patients);
  }
  int reused() const { return reused_; }

 private:
  Store* store_;
  const Dataset& data_;
  bool recompute_;
  bool from_models_;
  bool reuse_networks_;
  std::string out_dir_;
  int reused_ = 0;
};

// The settings that decide results (threads do not: results are identical at any thread count).
nlohmann::json comparable_settings(const SearchSettings& s) { return s.to_json(); }

}  // namespace

std::string branch_weights_path(const std::string& out_dir, int run, int fold,
                                const std::string& modality) {
  return (fs::path(out_dir) / kModelsDir / fmt::format("run{}_fold{}_{}.pt", run, fold, modality))
      .string();
}

SearchSettings stored_search_settings(const SearchSettings& settings, const std::string& out_dir) {
  // Decoded image crops live in OUT/image_cache unless the user named a cache folder: from_data
  // and auto keep them, fresh discards them with the rest of the run.
  SearchSettings effective = settings;
  if (effective.uses_images() && effective.images.cache_dir.empty())
    effective.images.cache_dir = (fs::path(out_dir) / kImageCacheDir).string();
  return effective;
}

SearchResult run_stored_search(const Dataset& data, const SearchSettings& settings,
                               const std::string& out_dir, ResumeMode resume,
                               const ProgressFn& progress, RemoteSearch* remote) {
  settings.validate();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw InputError(fmt::format("{}: cannot create output folder ({})", out_dir, ec.message()));
  const std::string db_path = (fs::path(out_dir) / kStoreFile).string();
  auto store = Store::open(db_path);
  if (resume == ResumeMode::kFresh) {
    store->clear_all();
    fs::remove_all(fs::path(out_dir) / kImageCacheDir, ec);
    fs::remove_all(fs::path(out_dir) / kModelsDir, ec);
    // results.csv first: without it the folder never looks like a complete run.
    for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv",
                          "splits.csv", "settings.json", "comparisons.csv", "complementarity.csv",
                          "cleaning.csv", "tuning.csv", "generated_images.csv"})
      fs::remove(fs::path(out_dir) / f, ec);
  }

  const nlohmann::json now = {{"settings", comparable_settings(settings)},
                              {"data_fingerprint", file_fingerprint(data.metadata_path)},
                              {"schema", data.schema.to_json()}};
  if (const auto stored = store->meta("run"); stored) {
    const auto diff = differences(nlohmann::json::parse(*stored), now);
    if (!diff.empty())
      throw InputError(
          fmt::format("{}: this output folder holds a run with other settings or data:\n  {}\n"
                      "use another --out, or --resume fresh to discard the stored run",
                      db_path, fmt::join(diff, "\n  ")));
  } else {
    store->set_meta("run", now.dump());
    store->set_meta("software", nlohmann::json({{"woundphase", WOUNDPHASE_VERSION_STRING},
                                                {"sqlite", sqlite3_libversion()}})
                                    .dump());
  }
  // from_data keeps the decoded image cache and retrains everything; from_models keeps the saved
  // networks of image jobs (OUT/models) and recomputes their predictions; tree models refit in
  // well under a second and are not saved, so from_models refits them.
  if (resume == ResumeMode::kFromData) store->clear_jobs();
  const int stored_jobs = store->count_jobs();
  if (stored_jobs > 0 && progress)
    progress({0, 0,
              fmt::format("resuming ({}): {} finished jobs kept in {}", to_string(resume),
                          stored_jobs, db_path)});

  StoreCache cache(store.get(), data, resume, out_dir);
  SearchResult result =
      run_search(data, stored_search_settings(settings, out_dir), progress, &cache, remote);
  result.ranking = write_search_outputs(data, result, out_dir, settings.alpha, settings.calibrate);
  return result;
}

}  // namespace woundphase
