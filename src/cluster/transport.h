// Internal to src/cluster: the MPI transport (one search's messages between rank 0 and the
// workers) and what the coordinator and the workers share about timing.
#pragma once

#include <chrono>
#include <memory>  // for unique_ptr
#include <mutex>
#include <optional>
#include <string>
#include <utility>  // for pair
#include <vector>

#include "cluster/codec.h"
#include "woundphase/cluster.h"

#ifdef WOUNDPHASE_HAVE_MPI
#include <mpi.h>
#endif

namespace woundphase {

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
constexpr int kExitBadInput = 2;  // a worker's InputError: rank 0 ends with the same code
constexpr char kRecoveryFlags[] = "mpirun --enable-recovery";

// A launcher variable's non-negative integer value, `fallback` when unset or not one (launch.cpp).
int env_int(const char* name, int fallback);
// This process's rank on its node, -1 when the launcher does not say (launch.cpp).
int launched_local_rank();

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

inline Clock::duration peer_timeout() {
  return std::chrono::seconds(env_int(kTimeoutVariable, kDefaultTimeoutSeconds));
}

// A (run, fold) whose image branches a worker holds in memory.
using FoldKey = std::pair<int, int>;

struct Message {
  int source = 0;
  Tag tag = Tag::kHeartbeat;
  std::string bytes;
};

// The search spread over the ranks of `cluster`, seen from rank 0: the same result run_search
// gives in one process (coordinator.cpp).
SearchResult run_search_coordinator(const Dataset& data, const SearchSettings& settings,
                                    const ProgressFn& progress, JobCache* cache, Cluster& cluster);

#ifdef WOUNDPHASE_HAVE_MPI

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

  // Queues a send that never blocks (a lost worker must not stall the coordinator).
  void post(int dest, Tag tag, std::string bytes);
  // Drops completed sends; true when none is left.
  bool flush();
  // Gives up the sends to a lost rank (their buffers stay: MPI may still read them).
  void forget(int dest);
  // A send that waits for completion without holding the lock (a worker's result).
  void send(int dest, Tag tag, const std::string& bytes);
  // The next message from `source` (MPI_ANY_SOURCE) with `tag` (MPI_ANY_TAG), if one is there.
  std::optional<Message> receive(int source, int tag);
  // Rank 0: tells every worker to stop and lets the messages leave (lost workers never take
  // theirs: after kStopGrace they are given up).
  void release();
};

#endif  // WOUNDPHASE_HAVE_MPI

}  // namespace woundphase
