// Which rank of how many this process is, as the launcher (mpirun, srun) says in the environment;
// and, built without MPI, the Cluster that refuses to be one of several ranks.
#include <fmt/format.h>

#include <cstdlib>  // for getenv, strtol

#include "cluster/transport.h"
#include "woundphase/cluster.h"

namespace woundphase {
namespace {

// Environment variables launchers set: the number of ranks, this rank, the rank on this node.
constexpr const char* kSizeVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                          "SLURM_STEP_NUM_TASKS"};
constexpr const char* kRankVariables[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"};
constexpr const char* kLocalRankVariables[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                               "SLURM_LOCALID"};
// Slurm's task count also describes non-MPI steps: it counts only inside an MPI step, which is
// what the PMIx/PMI variables say.
constexpr const char* kMpiStepVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                             "PMI_RANK"};

bool in_mpi_step() {
  for (const char* name : kMpiStepVariables)
    if (std::getenv(name) != nullptr) return true;
  return false;
}

}  // namespace

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n < (1 << 24) ? static_cast<int>(n) : fallback;
}

int launched_local_rank() {
  for (const char* name : kLocalRankVariables) {
    const int local = env_int(name, -1);
    if (local >= 0) return local;
  }
  return -1;
}

int launched_ranks() {
  if (!in_mpi_step()) return 1;
  for (const char* name : kSizeVariables)
    if (const int n = env_int(name, 0); n > 0) return n;
  return 1;
}

int launched_rank() {
  if (!in_mpi_step()) return 0;
  for (const char* name : kRankVariables)
    if (const int n = env_int(name, -1); n >= 0) return n;
  return 0;
}

SearchResult Cluster::run(const Dataset& data, const SearchSettings& settings,
                          const ProgressFn& progress, JobCache* cache) {
  return run_search_coordinator(data, settings, progress, cache, *this);
}

#ifndef WOUNDPHASE_HAVE_MPI

// Built without MPI: a single process searches alone; several ranks would all write the same
// store, so they are refused.
struct Cluster::Impl {};

std::unique_ptr<Cluster> Cluster::join() {
  if (launched_ranks() <= 1) return nullptr;
  throw InputError(
      fmt::format("started as one of {} ranks, but this woundphase was built without MPI (install "
                  "libopenmpi-dev and rebuild: scripts/setup.sh test, make); run it without mpirun",
                  launched_ranks()));
}
Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() = default;
void Cluster::finish(int /*exit_code*/) {}
int Cluster::rank() const { return 0; }
int Cluster::size() const { return 1; }
int run_search_worker(const Dataset&, const SearchSettings&, const std::string&, Cluster&) {
  throw std::logic_error("run_search_worker without MPI");
}
int report_worker_failure(Cluster&, const std::string&, int exit_code) { return exit_code; }
SearchResult run_search_coordinator(const Dataset&, const SearchSettings&, const ProgressFn&,
                                    JobCache*, Cluster&) {
  throw std::logic_error("run_search_coordinator without MPI");
}

#endif  // WOUNDPHASE_HAVE_MPI

}  // namespace woundphase
