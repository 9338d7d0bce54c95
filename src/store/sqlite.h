// Internal to src/store: the SQLite pieces the store's files share (a prepared statement, error
// mapping, the table layout's names).
#pragma once

#include <fmt/format.h>
#include <sqlite3.h>

#include <cmath>  // for NAN
#include <stdexcept>
#include <string>

#include "woundphase/core.h"  // for InputError
#include "woundphase/store.h"

namespace woundphase {
namespace sqlite {

// The layout version written to meta.store_format; a store of another version is refused.
constexpr const char* kStoreFormat = "2";
// Rows of the jobs and predictions tables: the job's own (final) row and its kinds of predictions.
constexpr const char* kStageFinal = "final";
constexpr const char* kKindTest = "test";
constexpr const char* kKindOof = "oof";
constexpr const char* kStatusFinished = "finished";
constexpr const char* kStatusKept = "kept";
constexpr const char* kStatusNotKept = "not_kept";

// Whether `rc` says the file cannot be read or written as a database (the user's to fix: disk
// full, read-only, not a database, corrupted), as opposed to a defect of the program.
inline bool is_file_error(int rc) {
  return rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY ||
         rc == SQLITE_CANTOPEN || rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT;
}

// RAII prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    if (rc == SQLITE_OK) return;
    if (is_file_error(rc))
      throw InputError(fmt::format("{}: experiment store error: {}",
                                   sqlite3_db_filename(db, "main"), sqlite3_errmsg(db)));
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
    if (is_file_error(rc))
      throw InputError(fmt::format("{}: experiment store error: {}",
                                   sqlite3_db_filename(db_, "main"), sqlite3_errmsg(db_)));
    throw std::runtime_error(fmt::format("sqlite: {}", sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs `sql` (several statements allowed); InputError naming the file for file errors.
void exec(sqlite3* db, const char* sql);

}  // namespace sqlite

struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;
  ~Impl() {
    if (db != nullptr) sqlite3_close(db);
  }
};

}  // namespace woundphase
