// The experiment store's jobs: a finished (run, fold, combination) with its stages' scores, its
// predictions, training curve, cleaning verdicts and tuned configuration, written in one
// transaction and read back exactly (NaN stays NaN).
#include <fmt/format.h>
#include <sqlite3.h>

#include <mutex>  // for recursive_mutex, lock_guard
#include <nlohmann/json.hpp>

#include "experiment/search_plan.h"  // for cleaning_json, cleaning_from, generated_json
#include "store/sqlite.h"
#include "woundphase/store.h"

namespace woundphase {

using sqlite::exec;
using sqlite::kKindOof;
using sqlite::kKindTest;
using sqlite::kStageFinal;
using sqlite::kStatusFinished;
using sqlite::kStatusKept;
using sqlite::kStatusNotKept;
using sqlite::Statement;

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

// A job's one row of a side table (cleaning, tuning, generated): replaced, or only removed when
// `value` is empty. `table` and `column` are this file's own names, never user text.
void replace_job_row(sqlite3* db, const FoldResult& r, const char* table, const char* column,
                     const std::string& value) {
  const std::string del =
      fmt::format("DELETE FROM {} WHERE run = ?1 AND fold = ?2 AND modalities = ?3", table);
  Statement(db, del.c_str()).bind(1, r.run).bind(2, r.fold).bind(3, r.modalities).run();
  if (value.empty()) return;
  const std::string ins = fmt::format(
      "INSERT INTO {}(run, fold, modalities, {}) VALUES(?1, ?2, ?3, ?4)", table, column);
  Statement(db, ins.c_str())
      .bind(1, r.run)
      .bind(2, r.fold)
      .bind(3, r.modalities)
      .bind(4, value)
      .run();
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
  Statement gl(impl_->db,
               "SELECT rows FROM generated WHERE run = ?1 AND fold = ?2 AND modalities = ?3");
  gl.bind(1, run).bind(2, fold).bind(3, modalities);
  if (gl.step()) job.generated = generated_from(nlohmann::json::parse(gl.text(0)), run, fold);
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
    replace_job_row(impl_->db, r, "cleaning", "rows",
                    job.cleaning.empty() ? std::string() : cleaning_json(job.cleaning).dump());
    replace_job_row(impl_->db, r, "tuning", "config", r.tuned);
    replace_job_row(impl_->db, r, "generated", "rows",
                    job.generated.empty() ? std::string() : generated_json(job.generated).dump());
    static int saves = 0;
    test_kill_point("commit", saves++);
    exec(impl_->db, "COMMIT");
  } catch (...) {
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace woundphase
