// The SQLite experiment store: opening (or creating) OUT/woundphase.db, its meta table, the
// run's patient folds and the counts and resets resume uses. Jobs: jobs.cpp.
#include "woundphase/store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <mutex>  // for recursive_mutex, lock_guard
#include <vector>

#include "store/sqlite.h"

namespace woundphase {

namespace sqlite {

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return;
  const std::string msg = err != nullptr ? err : "unknown";
  sqlite3_free(err);
  if (is_file_error(rc))
    throw InputError(
        fmt::format("{}: experiment store error: {}", sqlite3_db_filename(db, "main"), msg));
  throw std::runtime_error(fmt::format("sqlite: {}", msg));
}

}  // namespace sqlite

namespace {

using sqlite::exec;
using sqlite::kStoreFormat;
using sqlite::Statement;

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
CREATE TABLE IF NOT EXISTS generated(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, rows TEXT NOT NULL,
  PRIMARY KEY(run, fold, modalities));
CREATE TABLE IF NOT EXISTS curves(
  run INTEGER NOT NULL, fold INTEGER NOT NULL, modalities TEXT NOT NULL, component TEXT NOT NULL,
  epoch INTEGER NOT NULL, loss REAL, val_loss REAL, val_qwk REAL,
  PRIMARY KEY(run, fold, modalities, component, epoch));
)sql";

// Tables of the store's own that a database holds ('meta', 'jobs'): -1 when it holds other tables
// but none of them (another program's database, which the store must neither read nor alter).
int own_tables(sqlite3* db) {
  Statement st(db,
               "SELECT COUNT(*), COALESCE(SUM(name IN ('meta', 'jobs')), 0) FROM sqlite_master "
               "WHERE type = 'table'");
  st.step();
  const long long tables = st.int64(0);
  const long long own = st.int64(1);
  if (tables > 0 && own == 0) return -1;
  return static_cast<int>(own);
}

// How long a writer waits for another process's transaction (a distributed search's ranks).
constexpr int kBusyTimeoutMs = 10000;

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& path) {
  std::unique_ptr<Store> store(new Store());
  store->impl_ = std::make_unique<Impl>();
  store->impl_->path = path;
  if (sqlite3_open_v2(path.c_str(), &store->impl_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK)
    throw InputError(fmt::format("{}: cannot open the experiment store ({})", path,
                                 sqlite3_errmsg(store->impl_->db)));
  sqlite3* db = store->impl_->db;
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (own_tables(db) < 0)
    throw InputError(fmt::format(
        "{}: not a woundphase experiment store (the database holds other tables); use another "
        "--out",
        path));
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
      "DELETE FROM generated; COMMIT;");
}

void Store::clear_all() {
  const std::lock_guard<std::recursive_mutex> writing(write_lock());
  exec(impl_->db,
       "BEGIN; DELETE FROM predictions; DELETE FROM jobs; DELETE FROM splits; DELETE FROM meta; "
       "DELETE FROM cleaning; DELETE FROM tuning; DELETE FROM generated; COMMIT;");
  set_meta("store_format", kStoreFormat);
}

}  // namespace woundphase
