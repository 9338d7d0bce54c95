// The SQLite experiment store and the stored (resumable) search.
#include "woundphase/store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <mutex>  // for mutex, lock_guard
#include <nlohmann/json.hpp>

#include "experiment/search_plan.h"  // for cleaning_json, cleaning_from

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr const char* kStoreFile = "woundphase.db";
constexpr const char* kImageCacheDir = "image_cache";
constexpr const char* kModelsDir = "models";
constexpr const char* kStoreFormat = "2";
constexpr const char* kStageFinal = "final";
constexpr const char* kKindTest = "test";
constexpr const char* kKindOof = "oof";
constexpr const char* kStatusFinished = "finished";
constexpr const char* kStatusKept = "kept";
constexpr const char* kStatusNotKept = "not_kept";

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS splits(
  run INTEGER NOT NULL, patient_index INTEGER NOT NULL, patient TEXT NOT NULL, fold INTEGER NOT NULL,
  PRIMARY KEY(run, patient_index));
CREATE TABLE IF NOT EXISTS jobs(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, stage TEXT NOT NULL,
  status TEXT NOT NULL, seed INTEGER NOT NULL, n_train INTEGER NOT NULL, n_test INTEGER NOT NULL,
  qwk REAL, kappa REAL, accuracy REAL, macro_f1 REAL, f1_0 REAL, f1_1 REAL, f1_2 REAL,
  confusion TEXT, seconds REAL, attempt INTEGER NOT NULL DEFAULT 1, weights TEXT, val_qwk REAL,
  PRIMARY KEY(run, fold, modalities, stage));
CREATE TABLE IF NOT EXISTS predictions(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, stage TEXT NOT NULL,
  kind TEXT NOT NULL, row INTEGER NOT NULL, prob_0 REAL NOT NULL, prob_1 REAL NOT NULL,
  prob_2 REAL NOT NULL, pred INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS predictions_job ON predictions(run, fold, modalities, stage, kind);
CREATE TABLE IF NOT EXISTS cleaning(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, rows TEXT NOT NULL,
  PRIMARY KEY(run, fold, modalities));
CREATE TABLE IF NOT EXISTS tuning(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, config TEXT NOT NULL,
  PRIMARY KEY(run, fold, modalities));
CREATE TABLE IF NOT EXISTS curves(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, component TEXT NOT NULL,
  epoch INTEGER NOT NULL, loss REAL, val_loss REAL, val_qwk REAL,
  PRIMARY KEY(run, fold, modalities, component, epoch));
)sql";

// RAII prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(fmt::format("sqlite prepare: {}", sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, long long v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<long long>(v)); }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_error(rc);
    return false;
  }
  void run() {
    step();
    sqlite3_reset(stmt_);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  long long int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  // SQLite stores NaN as NULL; read it back as NaN (an undefined kappa stays undefined on resume).
  double real(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt_, col);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? "" : reinterpret_cast<const char*>(p);
  }

 private:
  [[noreturn]] void throw_error(int rc) const {
    if (rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN)
      throw InputError(
          fmt::format("{}: cannot write the experiment store ({}); the store keeps every "
                      "job finished before this one",
                      sqlite3_db_filename(db_, "main"), sqlite3_errmsg(db_)));
    throw std::runtime_error(fmt::format("sqlite: {}", sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return;
  const std::string msg = err != nullptr ? err : "unknown";
  sqlite3_free(err);
  if (rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN ||
      rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
    throw InputError(
        fmt::format("{}: experiment store error: {}", sqlite3_db_filename(db, "main"), msg));
  throw std::runtime_error(fmt::format("sqlite: {}", msg));
}

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

struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;
  ~Impl() {
    if (db != nullptr) sqlite3_close(db);
  }
};

std::unique_ptr<Store> Store::open(const std::string& path) {
  std::unique_ptr<Store> store(new Store());
  store->impl_ = std::make_unique<Impl>();
  store->impl_->path = path;
  if (sqlite3_open_v2(path.c_str(), &store->impl_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK)
    throw InputError(fmt::format("{}: cannot open the experiment store ({})", path,
                                 sqlite3_errmsg(store->impl_->db)));
  sqlite3* db = store->impl_->db;
  sqlite3_busy_timeout(db, 10000);
  // Write-ahead log with normal sync: a killed process never loses a committed job and the file
  // stays consistent even on power loss (which may only drop the last few commits); full sync
  // would cost an fsync per job.
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  exec(db, kSchemaSql);
  const auto format = store->meta("store_format");
  if (format && *format != kStoreFormat)
    throw InputError(
        fmt::format("{}: store format {} is not supported (expected {}); use --resume fresh", path,
                    *format, kStoreFormat));
  if (!format) store->set_meta("store_format", kStoreFormat);
  return store;
}

Store::~Store() = default;

std::optional<std::string> Store::meta(const std::string& key) const {
  Statement st(impl_->db, "SELECT value FROM meta WHERE key = ?1");
  st.bind(1, key);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

std::recursive_mutex& Store::write_lock() {
  static std::recursive_mutex lock;
  return lock;
}

void Store::set_meta(const std::string& key, const std::string& value) {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  Statement st(impl_->db,
               "INSERT INTO meta(key, value) VALUES(?1, ?2) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  st.bind(1, key).bind(2, value).run();
}

void Store::save_splits(int run, const std::vector<int>& fold_of_patient,
                        const std::vector<std::string>& patients) {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  exec(impl_->db, "BEGIN IMMEDIATE");
  try {
    Statement st(
        impl_->db,
        "INSERT OR REPLACE INTO splits(run, patient_index, patient, fold) VALUES(?1, ?2, ?3, ?4)");
    for (size_t p = 0; p < fold_of_patient.size(); ++p) {
      st.bind(1, run)
          .bind(2, static_cast<int>(p))
          .bind(3, patients[p])
          .bind(4, fold_of_patient[p])
          .run();
    }
    exec(impl_->db, "COMMIT");
  } catch (...) {
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::optional<std::vector<int>> Store::load_splits(int run, size_t n_patients) const {
  Statement st(impl_->db,
               "SELECT patient_index, fold FROM splits WHERE run = ?1 ORDER BY patient_index");
  st.bind(1, run);
  std::vector<int> folds;
  while (st.step()) {
    if (st.int64(0) != static_cast<long long>(folds.size())) return std::nullopt;
    folds.push_back(static_cast<int>(st.int64(1)));
  }
  if (folds.size() != n_patients) return std::nullopt;
  return folds;
}

namespace {

// Scores from the columns qwk, kappa, accuracy, macro_f1, f1_0..2, confusion starting at `first`.
Scores read_scores(Statement& st, int first) {
  Scores s;
  s.qwk = st.real(first);
  s.kappa = st.real(first + 1);
  s.accuracy = st.real(first + 2);
  s.macro_f1 = st.real(first + 3);
  for (int c = 0; c < kNumClasses; ++c) s.f1[c] = st.real(first + 4 + c);
  const auto confusion = nlohmann::json::parse(st.text(first + 4 + kNumClasses));
  long n = 0;
  for (int t = 0; t < kNumClasses; ++t)
    for (int p = 0; p < kNumClasses; ++p) {
      s.confusion[t][p] = confusion.at(t).at(p).get<long>();
      n += s.confusion[t][p];
    }
  s.n = n;
  return s;
}

}  // namespace

std::optional<JobRecord> Store::load_job(int run, int fold, const std::string& modalities) const {
  Statement st(
      impl_->db,
      "SELECT seed, n_train, n_test, qwk, kappa, accuracy, macro_f1, f1_0, f1_1, f1_2, confusion, "
      "seconds, attempt, weights FROM jobs WHERE run = ?1 AND fold = ?2 AND modalities = ?3 AND "
      "stage = ?4 "
      "AND status = 'finished'");
  st.bind(1, run).bind(2, fold).bind(3, modalities).bind(4, std::string(kStageFinal));
  if (!st.step()) return std::nullopt;
  JobRecord job;
  FoldResult& r = job.result;
  r.run = run;
  r.fold = fold;
  r.modalities = modalities;
  r.seed = static_cast<unsigned long long>(st.int64(0));
  r.n_train = static_cast<int>(st.int64(1));
  r.n_test = static_cast<int>(st.int64(2));
  r.scores = read_scores(st, 3);
  job.seconds = st.real(11);
  job.attempt = static_cast<int>(st.int64(12));
  job.weights = st.text(13);

  Statement stages(impl_->db,
                   "SELECT stage, status, val_qwk, qwk, kappa, accuracy, macro_f1, f1_0, f1_1, "
                   "f1_2, confusion FROM jobs WHERE run = ?1 AND fold = ?2 AND modalities = ?3 "
                   "AND stage != ?4 ORDER BY rowid");
  stages.bind(1, run).bind(2, fold).bind(3, modalities).bind(4, std::string(kStageFinal));
  while (stages.step()) {
    StageResult stage;
    stage.stage = stages.text(0);
    stage.kept = stages.text(1) == kStatusKept;
    stage.val_qwk = stages.real(2);
    stage.scores = read_scores(stages, 3);
    r.stages.push_back(stage);
  }

  Statement pr(impl_->db,
               "SELECT kind, row, prob_0, prob_1, prob_2, pred FROM predictions WHERE run = ?1 AND "
               "fold = ?2 AND "
               "modalities = ?3 AND stage = ?4 ORDER BY rowid");
  pr.bind(1, run).bind(2, fold).bind(3, modalities).bind(4, std::string(kStageFinal));
  while (pr.step()) {
    PredictionRow row;
    row.run = run;
    row.fold = fold;
    row.modalities = modalities;
    row.row = static_cast<int>(pr.int64(1));
    for (int c = 0; c < kNumClasses; ++c) row.prob[c] = pr.real(2 + c);
    row.pred = static_cast<int>(pr.int64(5));
    (pr.text(0) == kKindTest ? job.test : job.oof).push_back(row);
  }
  Statement cu(impl_->db,
               "SELECT component, epoch, loss, val_loss, val_qwk FROM curves WHERE run = ?1 AND "
               "fold = ?2 AND "
               "modalities = ?3 ORDER BY component, epoch");
  cu.bind(1, run).bind(2, fold).bind(3, modalities);
  while (cu.step())
    job.curve.push_back(
        CurvePoint{cu.text(0), static_cast<int>(cu.int64(1)), cu.real(2), cu.real(3), cu.real(4)});
  Statement kl(impl_->db,
               "SELECT rows FROM cleaning WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
  kl.bind(1, run).bind(2, fold).bind(3, modalities);
  if (kl.step()) job.cleaning = cleaning_from(nlohmann::json::parse(kl.text(0)));
  Statement tl(impl_->db,
               "SELECT config FROM tuning WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
  tl.bind(1, run).bind(2, fold).bind(3, modalities);
  if (tl.step()) job.result.tuned = tl.text(0);
  return job;
}

void Store::save_job(const JobRecord& job) {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  const FoldResult& r = job.result;
  exec(impl_->db, "BEGIN IMMEDIATE");
  try {
    Statement del(
        impl_->db,
        "DELETE FROM predictions WHERE run = ?1 AND fold = ?2 AND modalities = ?3 AND stage = ?4");
    del.bind(1, r.run)
        .bind(2, r.fold)
        .bind(3, r.modalities)
        .bind(4, std::string(kStageFinal))
        .run();
    // The final row carries the job; a fused combination's stages get a row each (their
    // scores; status says whether that stage's model gave the final predictions).
    Statement st(
        impl_->db,
        "INSERT INTO jobs(run, fold, modalities, stage, status, seed, n_train, n_test, "
        "qwk, kappa, accuracy, "
        "macro_f1, f1_0, f1_1, f1_2, confusion, seconds, attempt, weights, val_qwk) VALUES(?1, ?2, "
        "?3, ?4, ?18, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 1, ?17, ?19) ON CONFLICT(run, fold, "
        "modalities, stage) DO "
        "UPDATE SET status = excluded.status, seed = excluded.seed, n_train = "
        "excluded.n_train, n_test = "
        "excluded.n_test, qwk = excluded.qwk, kappa = excluded.kappa, accuracy = "
        "excluded.accuracy, macro_f1 "
        "= excluded.macro_f1, f1_0 = excluded.f1_0, f1_1 = excluded.f1_1, f1_2 = "
        "excluded.f1_2, confusion = "
        "excluded.confusion, seconds = excluded.seconds, weights = excluded.weights, val_qwk = "
        "excluded.val_qwk, attempt = jobs.attempt + 1");
    auto insert = [&](const std::string& stage, const Scores& scores, const std::string& status,
                      double val_qwk) {
      nlohmann::json confusion = nlohmann::json::array();
      for (const auto& row : scores.confusion) confusion.push_back(row);
      st.bind(1, r.run)
          .bind(2, r.fold)
          .bind(3, r.modalities)
          .bind(4, stage)
          .bind(5, static_cast<long long>(r.seed))
          .bind(6, r.n_train)
          .bind(7, r.n_test)
          .bind(8, scores.qwk)
          .bind(9, scores.kappa)
          .bind(10, scores.accuracy)
          .bind(11, scores.macro_f1)
          .bind(12, scores.f1[0])
          .bind(13, scores.f1[1])
          .bind(14, scores.f1[2])
          .bind(15, confusion.dump())
          .bind(16, job.seconds)
          .bind(17, job.weights)
          .bind(18, status)
          .bind(19, val_qwk)
          .run();
    };
    Statement sdel(impl_->db,
                   "DELETE FROM jobs WHERE run = ?1 AND fold = ?2 AND modalities = ?3 AND stage != "
                   "?4");
    sdel.bind(1, r.run)
        .bind(2, r.fold)
        .bind(3, r.modalities)
        .bind(4, std::string(kStageFinal))
        .run();
    insert(kStageFinal, r.scores, kStatusFinished, 0.0);
    for (const StageResult& stage : r.stages)
      insert(stage.stage, stage.scores, stage.kept ? kStatusKept : kStatusNotKept, stage.val_qwk);
    Statement ins(impl_->db,
                  "INSERT INTO predictions(run, fold, modalities, stage, kind, row, prob_0, "
                  "prob_1, prob_2, pred) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    for (const auto* rows : {&job.test, &job.oof}) {
      const std::string kind = rows == &job.test ? kKindTest : kKindOof;
      for (const PredictionRow& p : *rows) {
        ins.bind(1, r.run)
            .bind(2, r.fold)
            .bind(3, r.modalities)
            .bind(4, std::string(kStageFinal))
            .bind(5, kind)
            .bind(6, p.row)
            .bind(7, p.prob[0])
            .bind(8, p.prob[1])
            .bind(9, p.prob[2])
            .bind(10, p.pred)
            .run();
      }
    }
    Statement cdel(impl_->db,
                   "DELETE FROM curves WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
    cdel.bind(1, r.run).bind(2, r.fold).bind(3, r.modalities).run();
    Statement cins(
        impl_->db,
        "INSERT INTO curves(run, fold, modalities, component, epoch, loss, val_loss, val_qwk) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (const CurvePoint& c : job.curve)
      cins.bind(1, r.run)
          .bind(2, r.fold)
          .bind(3, r.modalities)
          .bind(4, c.component)
          .bind(5, c.epoch)
          .bind(6, c.loss)
          .bind(7, c.val_loss)
          .bind(8, c.val_qwk)
          .run();
    Statement kdel(impl_->db,
                   "DELETE FROM cleaning WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
    kdel.bind(1, r.run).bind(2, r.fold).bind(3, r.modalities).run();
    if (!job.cleaning.empty()) {
      Statement kins(impl_->db,
                     "INSERT INTO cleaning(run, fold, modalities, rows) VALUES(?1, ?2, ?3, ?4)");
      kins.bind(1, r.run)
          .bind(2, r.fold)
          .bind(3, r.modalities)
          .bind(4, cleaning_json(job.cleaning).dump())
          .run();
    }
    Statement tdel(impl_->db,
                   "DELETE FROM tuning WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
    tdel.bind(1, r.run).bind(2, r.fold).bind(3, r.modalities).run();
    if (!r.tuned.empty())
      Statement(impl_->db,
                "INSERT INTO tuning(run, fold, modalities, config) VALUES(?1, ?2, ?3, ?4)")
          .bind(1, r.run)
          .bind(2, r.fold)
          .bind(3, r.modalities)
          .bind(4, r.tuned)
          .run();
    static int saves = 0;
    test_kill_point("commit", saves++);
    exec(impl_->db, "COMMIT");
  } catch (...) {
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

int Store::count_jobs() const {
  Statement st(impl_->db,
               "SELECT COUNT(*) FROM jobs WHERE stage = 'final' AND status = 'finished'");
  st.step();
  return static_cast<int>(st.int64(0));
}

int Store::total_attempts() const {
  Statement st(impl_->db, "SELECT COALESCE(SUM(attempt), 0) FROM jobs WHERE stage = 'final'");
  st.step();
  return static_cast<int>(st.int64(0));
}

void Store::clear_jobs() {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  exec(
      impl_->db,
      "BEGIN; DELETE FROM predictions; DELETE FROM jobs; DELETE FROM cleaning; DELETE FROM tuning; "
      "COMMIT;");
}

void Store::clear_all() {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  exec(impl_->db,
       "BEGIN; DELETE FROM predictions; DELETE FROM jobs; DELETE FROM splits; DELETE FROM meta; "
       "DELETE FROM cleaning; DELETE FROM tuning; COMMIT;");
  set_meta("store_format", kStoreFormat);
}

ResumeMode parse_resume(const std::string& text) {
  if (text == "fresh") return ResumeMode::kFresh;
  if (text == "auto") return ResumeMode::kAuto;
  if (text == "from_data") return ResumeMode::kFromData;
  if (text == "from_models") return ResumeMode::kFromModels;
  if (text == "from_predictions") return ResumeMode::kFromPredictions;
  throw InputError(
      fmt::format("--resume: unknown mode '{}' (choose from fresh, auto, from_data, from_models, "
                  "from_predictions)",
                  text));
}

std::string to_string(ResumeMode m) {
  switch (m) {
    case ResumeMode::kFresh:
      return "fresh";
    case ResumeMode::kAuto:
      return "auto";
    case ResumeMode::kFromData:
      return "from_data";
    case ResumeMode::kFromModels:
      return "from_models";
    case ResumeMode::kFromPredictions:
      return "from_predictions";
  }
  return "auto";
}

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
                               const ProgressFn& progress, Cluster* cluster) {
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
    for (const char* f :
         {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv", "splits.csv",
          "settings.json", "comparisons.csv", "complementarity.csv", "cleaning.csv", "tuning.csv"})
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
      run_search(data, stored_search_settings(settings, out_dir), progress, &cache, cluster);
  result.ranking = write_search_outputs(data, result, out_dir, settings.alpha, settings.calibrate);
  return result;
}

}  // namespace woundphase
