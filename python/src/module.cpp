// woundphase._core: the pybind11 module under the Python package (python/woundphase). It runs the
// program's own command bodies (app/commands.cpp) and library calls, so a search from Python
// writes the same bytes as `woundphase search`; the package's Python layer turns the outputs into
// DataFrames. Work runs on a thread of its own with the GIL released while the calling thread
// relays progress to a Python callback and watches for Ctrl-C (run_interruptibly).
#include <fmt/format.h>
#include <malloc.h>  // for mallopt
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>  // for isnan
#include <condition_variable>
#include <deque>
#include <exception>  // for exception_ptr
#include <memory>     // for make_shared, unique_ptr
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "commands.h"  // app/: the CLI's command bodies
#include "knobs.h"
#include "progress.h"  // app/: configure_logging
#include "woundphase/bundle.h"
#include "woundphase/image_coverage.h"  // for inspect_study
#include "woundphase/images.h"
#include "woundphase/inspect.h"
#include "woundphase/search.h"
#include "woundphase/synth.h"   // for write_synthetic_study
#include "woundphase/vision.h"  // for vision_available

namespace py = pybind11;

namespace woundphase::python {
namespace {

// How often the calling thread wakes to relay progress and check for Ctrl-C.
constexpr std::chrono::milliseconds kPoll{50};

// Thrown from the progress function once the caller asked to stop (Ctrl-C or a callback that
// raised). Not a std::exception, so no `catch (const std::exception&)` on the way turns it into
// another error; the search's job loop rethrows it, finished jobs stay stored.
struct Interrupted {};

py::dict event_dict(const ProgressEvent& e) {
  py::dict d;
  d["done"] = e.done;
  d["total"] = e.total;
  d["message"] = e.message;
  d["step"] = e.step;
  return d;
}

// Runs `work` on its own thread, the GIL released; meanwhile this thread hands each progress
// event to `callback` (on the caller's thread, so a notebook's widgets and tqdm work) and runs
// Python's signal handlers. With a callback, the work waits at each event until the callback has
// returned, so a callback that raises stops it right there (the job it reported is stored, the
// next one not begun). Ctrl-C stops the work at its next event. Either way, once the work has
// stopped, that Python exception is raised here.
void run_interruptibly(const std::function<void(const ProgressFn&)>& work,
                       const py::object& callback) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable wake;  // both ways: events to relay, events relayed, work done
    std::deque<ProgressEvent> events;
    long posted = 0;   // events the work has posted
    long relayed = 0;  // events this thread has handed to the callback (or dropped)
    bool done = false;
    bool stop = false;
    std::exception_ptr error;
  };
  auto shared = std::make_shared<Shared>();
  const bool wait = !callback.is_none();
  const ProgressFn progress = [shared, wait](const ProgressEvent& e) {
    std::unique_lock<std::mutex> lock(shared->mutex);
    if (shared->stop) throw Interrupted{};
    const long ticket = ++shared->posted;
    shared->events.push_back(e);
    shared->wake.notify_all();
    if (!wait) return;
    shared->wake.wait(lock, [&] { return shared->relayed >= ticket || shared->stop; });
    if (shared->stop) throw Interrupted{};
  };
  std::thread worker([shared, work, progress] {
    std::exception_ptr error;
    try {
      work(progress);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(shared->mutex);
    shared->error = error;
    shared->done = true;
    shared->wake.notify_all();
  });
  std::exception_ptr raised;  // the Python exception that stopped the work
  for (bool done = false; !done;) {
    std::deque<ProgressEvent> batch;
    {
      py::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(shared->mutex);
      shared->wake.wait_for(lock, kPoll, [&] { return shared->done || !shared->events.empty(); });
      batch.swap(shared->events);
      done = shared->done;
    }
    if (!raised) {
      try {
        if (!callback.is_none())
          for (const ProgressEvent& e : batch) callback(event_dict(e));
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      } catch (py::error_already_set&) {
        raised = std::current_exception();
      }
    }
    {
      std::lock_guard<std::mutex> lock(shared->mutex);
      shared->relayed += static_cast<long>(batch.size());
      if (raised) shared->stop = true;
    }
    shared->wake.notify_all();
  }
  {
    py::gil_scoped_release release;
    worker.join();
  }
  if (raised) std::rethrow_exception(raised);
  if (shared->error) std::rethrow_exception(shared->error);
}

// The InputError a message names: "file:line: column 'name' (n): ..." or "file:line: ...".
void set_location(py::object& error, const std::string& message) {
  static const std::regex located(R"(^(.+?):(\d+): (?:column '(.*?)' \((\d+)\))?)");
  std::smatch m;
  error.attr("file") = py::none();
  error.attr("line") = py::none();
  error.attr("column") = py::none();
  error.attr("column_name") = py::none();
  if (!std::regex_search(message, m, located)) return;
  error.attr("file") = m[1].str();
  error.attr("line") = std::stol(m[2].str());
  if (m[4].matched) {
    error.attr("column") = std::stol(m[4].str());
    error.attr("column_name") = m[3].str();
  }
}

// The logger for a call's `verbosity`, checked as the CLI checks --verbosity.
void configure_logging(int verbosity) {
  if (verbosity < 0 || verbosity > app::kMaxVerbosity)
    throw InputError(
        fmt::format("verbosity must be in [0, {}], got {}", app::kMaxVerbosity, verbosity));
  app::configure_logging(verbosity);
}

// The options of a command (search, train) from the call's arguments that both take, then its
// keywords `settings` and the thread count, set as the CLI sets them.
template <typename Options>
Options command_options(const Knobs<Options>& knobs, const std::string& data,
                        const std::string& out, const std::string& modalities,
                        const std::string& schema, int threads, int verbosity,
                        const py::dict& settings) {
  Options options;
  options.data.data_dir = data;
  options.data.schema_file = schema;
  options.out_dir = out;
  options.modalities = modalities;
  options.verbosity = verbosity;
  apply(knobs, settings, &options);
  options.set_threads(threads);
  return options;
}

// Runs the command body `run` on `options`, its events told to `callback` too.
template <typename Options, typename Body>
void run_command(Options options, const py::object& callback, Body run) {
  configure_logging(options.verbosity);
  run_interruptibly(
      [options, run](const ProgressFn& progress) mutable {
        options.progress = progress;
        run(options);
      },
      callback);
}

void search(const std::string& data, const std::string& out, const std::string& modalities,
            const std::string& schema, const std::string& resume, int threads, int verbosity,
            const py::dict& settings, const py::object& callback) {
  app::SearchOptions options =
      command_options(search_knobs(), data, out, modalities, schema, threads, verbosity, settings);
  options.resume = resume;
  options.print_table = false;
  run_command(options, callback, [](const app::SearchOptions& o) { app::run_search_command(o); });
}

void train(const std::string& data, const std::string& out, const std::string& modalities,
           const std::string& schema, int threads, int verbosity, const py::dict& settings,
           const py::object& callback) {
  app::TrainOptions options =
      command_options(train_knobs(), data, out, modalities, schema, threads, verbosity, settings);
  options.print_summary = false;
  run_command(options, callback, [](const app::TrainOptions& o) { app::run_train(o); });
}

py::dict synth(const std::string& out, int threads, const py::dict& settings) {
  SynthSettings s;
  apply(synth_knobs(), settings, &s);
  s.threads = threads;
  s.validate();
  StudySummary study;
  run_interruptibly([&](const ProgressFn&) { study = write_synthetic_study(out, s); }, py::none());
  py::dict d;
  d["patients"] = study.cohort.patients;
  d["visit_wounds"] = study.cohort.rows;
  d["class_counts"] = std::vector<int>(study.cohort.class_counts, study.cohort.class_counts + 3);
  py::dict images;
  for (ImageModality m : kImageModalities)
    images[py::str(folder_of(m))] = study.images[static_cast<int>(m)];
  d["images"] = images;
  d["seconds"] = study.seconds;
  return d;
}

// What `woundphase inspect` prints (`text`) and the counts a notebook wants as values.
py::dict inspect(const std::string& data, const std::string& schema) {
  app::DataOptions options;
  options.data_dir = data;
  options.schema_file = schema;
  std::string text;
  Dataset dataset;
  run_interruptibly(
      [&](const ProgressFn&) {
        const Schema s = options.schema();
        text = inspect_study(data, s);  // the program's report, image coverage included
        dataset = load_dataset(data, s, false);
      },
      py::none());
  py::dict d;
  d["metadata_file"] = dataset.metadata_path;
  d["visit_wounds"] = dataset.rows.size();
  d["patients"] = dataset.patients.size();
  d["has_labels"] = dataset.has_labels;
  py::dict classes;
  if (dataset.has_labels) {
    std::vector<long> counts(kNumClasses, 0);
    for (const VisitWound& r : dataset.rows)
      if (r.label >= 0) ++counts[r.label];
    for (int c = 0; c < kNumClasses; ++c)
      classes[py::str(dataset.schema.class_labels[c])] = counts[c];
  }
  d["class_counts"] = classes;
  py::list features;
  for (size_t f = 0; f < dataset.feature_names.size(); ++f) {
    const bool categorical = dataset.feature_kinds[f] == FeatureKind::kCategorical;
    long missing = 0;
    for (size_t r = 0; r < dataset.rows.size(); ++r)
      missing += categorical ? dataset.text[f][r].empty() : std::isnan(dataset.numeric.at(r, f));
    py::dict feature;
    feature["name"] = dataset.feature_names[f];
    feature["kind"] = categorical ? "categorical" : "numeric";
    feature["missing"] = missing;
    features.append(feature);
  }
  d["features"] = features;
  d["warnings"] = dataset.warnings;
  d["text"] = text;
  return d;
}

// A loaded bundle (move-only: it owns networks).
struct PyBundle {
  std::string path;
  std::unique_ptr<Bundle> bundle;
};

py::object predict(const PyBundle& b, const std::string& data, const std::string& out_csv,
                   int threads) {
  Scores scores;
  bool has_labels = false;
  run_interruptibly(
      [&](const ProgressFn&) {
        const Dataset dataset = load_dataset(data, b.bundle->schema, false);
        predict_bundle(*b.bundle, dataset, out_csv, &scores, threads);
        has_labels = dataset.has_labels && scores.n > 0;
      },
      py::none());
  if (!has_labels) return py::none();
  py::dict d;
  d["qwk"] = scores.qwk;
  d["kappa"] = scores.kappa;
  d["accuracy"] = scores.accuracy;
  d["macro_f1"] = scores.macro_f1;
  d["f1"] = std::vector<double>(scores.f1.begin(), scores.f1.end());
  py::list confusion;
  for (const auto& row : scores.confusion)
    confusion.append(std::vector<long>(row.begin(), row.end()));
  d["confusion"] = confusion;
  d["n"] = scores.n;
  return d;
}

}  // namespace
}  // namespace woundphase::python

PYBIND11_MODULE(_core, m) {
  using namespace woundphase;
  using namespace woundphase::python;
  m.doc() = "woundphase's C++ core (use the woundphase package, not this module)";
  // glibc returns large buffers to the OS on every free; the page faults make libtorch training
  // many times slower (TOOLCHAIN.md pitfall 1), so keep freed memory mapped, as the program does.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);

  m.attr("__version__") = WOUNDPHASE_VERSION;
  static py::exception<InputError> input_error(m, "InputError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InputError& e) {
      const std::string message = python_message(e.what());
      const auto cls = py::reinterpret_borrow<py::object>(input_error);
      py::object error = cls(message);
      set_location(error, message);
      PyErr_SetObject(input_error.ptr(), error.ptr());
    }
  });

  m.def("default_threads", &app::default_threads);
  m.def("search_knobs", [] { return describe(search_knobs()); });
  m.def("train_knobs", [] { return describe(train_knobs()); });
  m.def("synth_knobs", [] { return describe(synth_knobs()); });
  m.def("search", &woundphase::python::search, py::arg("data"), py::arg("out"),
        py::arg("modalities"), py::arg("schema"), py::arg("resume"), py::arg("threads"),
        py::arg("verbosity"), py::arg("settings"), py::arg("progress"));
  m.def("train", &woundphase::python::train, py::arg("data"), py::arg("out"), py::arg("modalities"),
        py::arg("schema"), py::arg("threads"), py::arg("verbosity"), py::arg("settings"),
        py::arg("progress"));
  m.def("synth", &woundphase::python::synth, py::arg("out"), py::arg("threads"),
        py::arg("settings"));
  m.def("inspect", &woundphase::python::inspect, py::arg("data"), py::arg("schema"));
  m.def(
      "metadata_file",
      [](const std::string& schema) {
        app::DataOptions options;
        options.schema_file = schema;
        return options.schema().metadata_file;
      },
      py::arg("schema"));
  m.def("vision_available", [] {
    std::string why;
    const bool ok = vision_available(&why);
    return py::make_tuple(ok, why);
  });

  py::class_<PyBundle>(m, "Bundle")
      .def_static(
          "load",
          [](const std::string& path) {
            PyBundle b;
            b.path = path;
            run_interruptibly(
                [&](const ProgressFn&) { b.bundle = std::make_unique<Bundle>(load_bundle(path)); },
                py::none());
            return b;
          },
          py::arg("path"))
      .def_readonly("path", &PyBundle::path)
      .def_property_readonly("combination",
                             [](const PyBundle& b) { return to_string(b.bundle->combination); })
      .def_property_readonly("temperature", [](const PyBundle& b) { return b.bundle->temperature; })
      .def_property_readonly("manifest",
                             [](const PyBundle& b) { return b.bundle->manifest.dump(); })
      .def("predict", &woundphase::python::predict, py::arg("data"), py::arg("out"),
           py::arg("threads"));
}
