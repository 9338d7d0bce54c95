// The distributed search's messages as bytes (codec.h).
#include "cluster/codec.h"

#include <fmt/format.h>

#include <cstdint>  // for uint8_t
#include <vector>

#include "experiment/search_plan.h"  // for cleaning_json, cleaning_from, generated_json
#include "woundphase/files.h"        // for file_fingerprint

namespace woundphase {
namespace {

constexpr const char* kBranchKind = "branch";
constexpr const char* kCombinationKind = "combination";

std::string to_bytes(const nlohmann::json& j) {
  const std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

// Decodes `bytes` and reads it with `read`; any failure (not MessagePack, truncated, trailing
// bytes, a missing field, a field of the wrong type or out of range) becomes one CodecError naming
// the message kind.
template <typename Read>
auto decode_as(const char* what, const std::string& bytes, Read read)
    -> decltype(read(nlohmann::json())) {
  try {
    return read(nlohmann::json::from_msgpack(bytes));
  } catch (const std::exception& e) {  // nlohmann's parse, type and range errors; CodecError
    throw CodecError(
        fmt::format("a {} message of {} bytes does not decode: {}", what, bytes.size(), e.what()));
  }
}

int non_negative(const nlohmann::json& j, const char* field) {
  const int v = j.at(field).get<int>();
  if (v < 0) throw CodecError(fmt::format("field '{}' is {} (negative)", field, v));
  return v;
}

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

}  // namespace

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
          {"generated", generated_json(job.generated)},
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
  job.generated = generated_from(j.at("generated"), r.run, r.fold);
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

nlohmann::json start_record(const Dataset& data, const SearchSettings& settings) {
  return {{"settings", settings.to_json()},
          {"fingerprint", file_fingerprint(data.metadata_path)},
          {"rows", data.rows.size()}};
}

std::string encode_start(const nlohmann::json& record) { return to_bytes(record); }

nlohmann::json decode_start(const std::string& bytes) {
  return decode_as("start", bytes, [](const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("settings") || !j.contains("fingerprint"))
      throw CodecError("not a start record (settings, fingerprint)");
    return j;
  });
}

std::string encode_order(const JobOrder& order) {
  return to_bytes({{"id", order.id},
                   {"kind", order.kind == JobOrderKind::kBranch ? kBranchKind : kCombinationKind},
                   {"run", order.run},
                   {"fold", order.fold},
                   {"modality", static_cast<int>(order.modality)},
                   {"combination", order.combination}});
}

JobOrder decode_order(const std::string& bytes) {
  return decode_as("job", bytes, [](const nlohmann::json& j) {
    JobOrder order;
    order.id = non_negative(j, "id");
    const std::string kind = j.at("kind").get<std::string>();
    if (kind != kBranchKind && kind != kCombinationKind)
      throw CodecError(fmt::format("unknown job kind '{}'", kind));
    order.kind = kind == kBranchKind ? JobOrderKind::kBranch : JobOrderKind::kCombination;
    order.run = non_negative(j, "run");
    order.fold = non_negative(j, "fold");
    const int modality = non_negative(j, "modality");
    if (modality > static_cast<int>(Modality::kThermalRgb))
      throw CodecError(fmt::format("unknown modality {}", modality));
    order.modality = static_cast<Modality>(modality);
    order.combination = non_negative(j, "combination");
    return order;
  });
}

std::string encode_outcome(const JobOutcome& outcome) {
  nlohmann::json j = {{"id", outcome.id}};
  if (outcome.record) j["record"] = job_json(*outcome.record);
  j["seconds"] = outcome.seconds;
  return to_bytes(j);
}

JobOutcome decode_outcome(const std::string& bytes) {
  return decode_as("result", bytes, [](const nlohmann::json& j) {
    JobOutcome outcome;
    outcome.id = non_negative(j, "id");
    outcome.seconds = j.at("seconds").get<double>();
    if (j.contains("record")) outcome.record = job_from(j.at("record"));
    return outcome;
  });
}

std::string encode_failure(const WorkerFailure& failure) {
  return to_bytes({{"message", failure.message}, {"exit_code", failure.exit_code}});
}

WorkerFailure decode_failure(const std::string& bytes) {
  return decode_as("failure", bytes, [](const nlohmann::json& j) {
    return WorkerFailure{j.at("message").get<std::string>(), j.at("exit_code").get<int>()};
  });
}

}  // namespace woundphase
