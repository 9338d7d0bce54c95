// The MPI transport of a distributed search (transport.h): joining and leaving the job, and
// non-blocking sends and probing receives of encoded messages.
#ifdef WOUNDPHASE_HAVE_MPI

#include "cluster/transport.h"

#include <algorithm>  // for remove_if
#include <mutex>      // for lock_guard
#include <stdexcept>
#include <thread>  // for sleep_for

namespace woundphase {

void Cluster::Impl::post(int dest, Tag tag, std::string bytes) {
  Pending p;
  p.bytes = std::make_unique<std::string>(std::move(bytes));
  p.dest = dest;
  std::lock_guard<std::mutex> lock(mutex);
  MPI_Isend(p.bytes->data(), static_cast<int>(p.bytes->size()), MPI_BYTE, dest,
            static_cast<int>(tag), MPI_COMM_WORLD, &p.request);
  outbox.push_back(std::move(p));
}

bool Cluster::Impl::flush() {
  std::lock_guard<std::mutex> lock(mutex);
  std::vector<Pending> left;
  for (Pending& p : outbox) {
    int done = 0;
    if (MPI_Test(&p.request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done == 0)
      left.push_back(std::move(p));
  }
  outbox = std::move(left);
  return outbox.empty();
}

void Cluster::Impl::forget(int dest) {
  std::lock_guard<std::mutex> lock(mutex);
  for (Pending& p : outbox)
    if (p.dest == dest && p.request != MPI_REQUEST_NULL) {
      MPI_Request_free(&p.request);
      abandoned.push_back(std::move(p.bytes));
    }
  outbox.erase(std::remove_if(outbox.begin(), outbox.end(),
                              [](const Pending& p) { return p.request == MPI_REQUEST_NULL; }),
               outbox.end());
}

void Cluster::Impl::send(int dest, Tag tag, const std::string& bytes) {
  MPI_Request request = MPI_REQUEST_NULL;
  {
    std::lock_guard<std::mutex> lock(mutex);
    MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, static_cast<int>(tag),
              MPI_COMM_WORLD, &request);
  }
  while (true) {
    int done = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return;
    }
    if (done != 0) return;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::optional<Message> Cluster::Impl::receive(int source, int tag) {
  std::lock_guard<std::mutex> lock(mutex);
  int flag = 0;
  MPI_Status status;
  if (MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &status) != MPI_SUCCESS || flag == 0)
    return std::nullopt;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Message m;
  m.source = status.MPI_SOURCE;
  m.tag = static_cast<Tag>(status.MPI_TAG);
  m.bytes.resize(static_cast<size_t>(count));
  MPI_Recv(m.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  return m;
}

void Cluster::Impl::release() {
  if (released) return;
  released = true;
  for (int r = 1; r < size; ++r) post(r, Tag::kStop, "");
  const auto deadline = Clock::now() + kStopGrace;
  while (!flush() && Clock::now() < deadline) std::this_thread::sleep_for(kPollInterval);
  for (int r = 1; r < size; ++r) forget(r);
}

std::unique_ptr<Cluster> Cluster::join() {
  if (launched_ranks() <= 1) return nullptr;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  auto impl = std::make_unique<Impl>();
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw std::runtime_error(
        "this MPI library cannot give MPI_THREAD_SERIALIZED (a worker's heartbeat thread needs "
        "it)");
  }
  // Errors come back as codes: a send to a lost rank must not abort the search.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &impl->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &impl->size);
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void Cluster::finish(int exit_code) {
  if (impl_->finalised) return;
  impl_->finalised = true;
  if (coordinator()) {
    // Workers in the middle of a job would only see the stop after it: end them now.
    if (exit_code != 0 && impl_->workers_started && !impl_->released)
      MPI_Abort(MPI_COMM_WORLD, exit_code);
    impl_->release();
  }
  MPI_Finalize();
}

Cluster::~Cluster() { finish(0); }

int Cluster::rank() const { return impl_->rank; }
int Cluster::size() const { return impl_->size; }

}  // namespace woundphase

#endif  // WOUNDPHASE_HAVE_MPI
