// Internal to src/cluster: the messages of a distributed search and their bytes. Pure (no MPI):
// every message is MessagePack-encoded JSON, which keeps each double's 64 bits (NaN included), so
// a job computed on a worker is stored exactly as if rank 0 had computed it. Decoding checks every
// field: a truncated, corrupted or foreign buffer throws CodecError, never a half-filled message.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "woundphase/search.h"  // for JobRecord, SearchSettings

namespace woundphase {

// Message tags (MPI tags: the kind of each message).
enum class Tag : int {
  kStart = 1,  // rank 0 -> worker: settings and data fingerprint to check; begin preparing
  kReady,      // worker -> rank 0: images prepared, give me a job (no body)
  kJob,        // rank 0 -> worker: one job (JobOrder)
  kResult,     // worker -> rank 0: the job's result (JobOutcome)
  kFailed,     // worker -> rank 0: a job or the worker's start failed (WorkerFailure)
  kHeartbeat,  // either way, every kHeartbeatInterval (no body)
  kStop,       // rank 0 -> worker: no more jobs (no body)
};

// A message that does not decode as the kind it was sent as.
class CodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class JobOrderKind { kBranch, kCombination };

// Rank 0's order: train the image branch `modality` of (run, fold), or compute combination
// `combination` (an index into the search's combinations) of (run, fold).
struct JobOrder {
  int id = 0;  // rank 0's job number, sent back with the outcome
  JobOrderKind kind = JobOrderKind::kCombination;
  int run = 0;
  int fold = 0;
  Modality modality = Modality::kMetadata;  // branch orders
  int combination = 0;                      // combination orders
};

// A worker's answer: how long the job took and, for a combination, its record (a branch's network
// travels through OUT/models instead).
struct JobOutcome {
  int id = 0;
  double seconds = 0;
  std::optional<JobRecord> record;
};

// A worker that could not start or finish a job: its message and exit code (2: bad input).
struct WorkerFailure {
  std::string message;
  int exit_code = 1;
};

// What rank 0 and each worker check before working together: the same settings and data.
nlohmann::json start_record(const Dataset& data, const SearchSettings& settings);

std::string encode_start(const nlohmann::json& record);
nlohmann::json decode_start(const std::string& bytes);
std::string encode_order(const JobOrder& order);
JobOrder decode_order(const std::string& bytes);
std::string encode_outcome(const JobOutcome& outcome);
JobOutcome decode_outcome(const std::string& bytes);
std::string encode_failure(const WorkerFailure& failure);
WorkerFailure decode_failure(const std::string& bytes);

// A finished job as JSON and back (exact).
nlohmann::json job_json(const JobRecord& job);
JobRecord job_from(const nlohmann::json& j);

}  // namespace woundphase
