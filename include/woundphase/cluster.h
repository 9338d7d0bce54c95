// One search over the processes of an mpirun (Open MPI): rank 0 owns the plan, the experiment
// store and the outputs; ranks 1..N-1 take jobs (an image branch of a fold, a combination of a
// fold) as they become free. Finished jobs travel to rank 0 by message; image networks travel
// through OUT/models on the shared filesystem. A process not started by mpirun (or started as
// the only rank) never initialises MPI and searches alone, as before.
#pragma once

#include <memory>  // for unique_ptr
#include <string>

#include "woundphase/search.h"  // for SearchResult, JobRecord, RemoteSearch

namespace woundphase {

// The number of ranks the launcher (mpirun, srun) started, from its environment; 1 without one.
int launched_ranks();
// This process's rank among them; 0 without a launcher.
int launched_rank();

class Cluster : public RemoteSearch {
 public:
  // Joins the MPI job when this process is one of several ranks started by a launcher; nullptr
  // otherwise (MPI is then never initialised). InputError when started as one of several ranks by
  // a program built without MPI.
  static std::unique_ptr<Cluster> join();
  // Ends this rank's part: rank 0 tells workers still waiting to stop, or, when the search failed
  // while they were computing (exit_code != 0), aborts the job with that code; then MPI_Finalize.
  void finish(int exit_code);
  ~Cluster() override;
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int rank() const;
  int size() const;
  bool coordinator() const { return rank() == 0; }
  // Rank 0: the search spread over the other ranks (coordinator.cpp).
  SearchResult run(const Dataset& data, const SearchSettings& settings, const ProgressFn& progress,
                   JobCache* cache) override;

  struct Impl;  // MPI state (src/cluster/transport.h)
  Impl& impl() { return *impl_; }

 private:
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Ranks 1..N-1 of `woundphase search`: computes the jobs rank 0 sends until it says stop. Never
// writes the store or the outputs; saves image networks under OUT/models. Returns the exit code.
int run_search_worker(const Dataset& data, const SearchSettings& settings,
                      const std::string& out_dir, Cluster& cluster);
// A worker that cannot start (bad data, bad options) tells rank 0, which stops the search with
// the message; waits for rank 0 to say stop. Returns `exit_code`.
int report_worker_failure(Cluster& cluster, const std::string& message, int exit_code);

}  // namespace woundphase
