"""woundphase.search: the program's bytes, DataFrames, progress, the GIL, Ctrl-C and resume."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types

import pandas as pd
import pytest

import woundphase as wp
from conftest import SEARCH_SETTINGS, flags, read_bytes, visit_wounds

# Every CSV a metadata search writes, and settings.json (the run's record).
OUTPUTS = ["results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv", "splits.csv",
           "comparisons.csv", "complementarity.csv", "settings.json"]
JOBS = SEARCH_SETTINGS["runs"] * SEARCH_SETTINGS["cv_folds"]  # one combination


@pytest.fixture(scope="module")
def cli_run(cli, cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_search")
    cli("--threads", 2, "search", "--data", cohort, "--out", out, *flags(SEARCH_SETTINGS))
    return out


def test_search_writes_the_programs_bytes(cohort, cli_run, tmp_path):
    result = wp.search(cohort, tmp_path / "py", threads=2, **SEARCH_SETTINGS)
    for name in OUTPUTS:
        assert read_bytes(result.out, name) == read_bytes(cli_run, name), name
    assert (result.out / "report.html").is_file()


def test_results_are_the_csv_files_as_dataframes(cohort, cli_run, tmp_path):
    result = wp.search(cohort, tmp_path / "py", threads=1, **SEARCH_SETTINGS)
    pd.testing.assert_frame_equal(result.results, pd.read_csv(cli_run / "results.csv"))
    pd.testing.assert_frame_equal(result.folds, pd.read_csv(cli_run / "folds.csv"))
    pd.testing.assert_frame_equal(result.predictions, pd.read_csv(cli_run / "predictions.csv"))
    assert list(result.results["modalities"]) == ["metadata"]
    assert len(result.folds) == JOBS
    # Test-fold predictions: every visit-wound once per run.
    assert len(result.predictions) == SEARCH_SETTINGS["runs"] * visit_wounds(cohort)
    assert result.comparisons is not None


def test_threads_do_not_change_the_bytes(cohort, cli_run, tmp_path):
    result = wp.search(cohort, tmp_path / "py", threads=3, **SEARCH_SETTINGS)
    assert read_bytes(result.out, "predictions.csv") == read_bytes(cli_run, "predictions.csv")


def test_out_none_makes_a_folder(cohort):
    result = wp.search(cohort, cv_folds=2, trees=10)
    assert result.out.is_dir() and (result.out / "results.csv").is_file()


def test_progress_callback_sees_every_job(cohort, tmp_path):
    events = []
    wp.search(cohort, tmp_path / "py", progress=events.append, **SEARCH_SETTINGS)
    jobs = [e for e in events if e["total"] > 0 and not e["step"]]
    assert [e["done"] for e in jobs] == list(range(1, JOBS + 1))
    assert all(e["total"] == JOBS for e in jobs)
    assert jobs[-1]["message"].startswith(f"[{JOBS}/{JOBS}] run ")


def test_progress_bar_draws_to_stderr(cohort, tmp_path, capsys):
    wp.search(cohort, tmp_path / "py", progress=True, **SEARCH_SETTINGS)
    err = capsys.readouterr().err
    assert f"{JOBS}/{JOBS} jobs" in err


def test_the_gil_is_released_while_searching(cohort, tmp_path):
    # This thread loops while another one searches, noting every pause of its own loop over 10 ms;
    # the search's progress function (on the searching thread) notes when each job ends. A job
    # is C++ work without a Python call (8000-tree forests: a tenth of a second or more): if the
    # search held the GIL there, this thread would pause for about a whole job each time (checked
    # by holding it on purpose). Released, it pauses only when the operating system gives its core
    # to another process (milliseconds).
    job_ends = []

    def mark(event):
        if event["total"] > 0 and not event["step"]:
            job_ends.append(time.monotonic())

    done = threading.Event()
    error = []

    def work():
        try:
            wp.search(cohort, tmp_path / "py", cv_folds=2, runs=2, trees=8000, threads=1,
                      progress=mark)
        except Exception as e:  # noqa: BLE001  (reported below)
            error.append(e)
        finally:
            done.set()

    pauses = []  # (when it ended, how long) of this thread's pauses over 10 ms
    worker = threading.Thread(target=work)
    worker.start()
    last = time.monotonic()
    while not done.is_set():
        now = time.monotonic()
        if now - last > 0.01:
            pauses.append((now, now - last))
        last = now
    worker.join()
    assert not error, error
    assert len(job_ends) == 4
    shortest_job = min(b - a for a, b in zip(job_ends, job_ends[1:]))
    longest_pause = max((p for end, p in pauses if job_ends[0] < end <= job_ends[-1]), default=0)
    assert shortest_job > 0.05, "jobs too short to tell"
    assert longest_pause < 0.5 * shortest_job, (longest_pause, shortest_job)


def stored_jobs(out):
    with sqlite3.connect(out / "woundphase.db") as db:
        return db.execute("SELECT COUNT(*), SUM(attempt) FROM jobs").fetchone()


@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_stops_the_search_and_a_rerun_resumes(cohort, cli_run, tmp_path, threads):
    out = tmp_path / "py"
    stop_after = 2

    def interrupt(event):
        if not event["step"] and event["done"] == stop_after:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C (or a notebook's stop button) sends

    with pytest.raises(KeyboardInterrupt):
        wp.search(cohort, out, threads=threads, progress=interrupt, **SEARCH_SETTINGS)
    assert not (out / "results.csv").exists()  # written last: the search did not finish
    jobs, attempts = stored_jobs(out)
    # The search waits for the callback at each job, so it stops right there: at one thread with
    # the jobs reported; at two, the other thread's job in flight may be stored too.
    assert jobs == stop_after if threads == 1 else stop_after <= jobs <= stop_after + 1

    events = []
    result = wp.search(cohort, out, threads=threads, progress=events.append, **SEARCH_SETTINGS)
    lines = [e["message"] for e in events if e["total"] > 0 and not e["step"]]
    assert sum(line.endswith("(stored)") for line in lines) == jobs
    assert stored_jobs(out) == (JOBS, JOBS)  # no job computed twice
    for name in OUTPUTS:
        assert read_bytes(result.out, name) == read_bytes(cli_run, name), name


def test_ctrl_c_without_a_callback_stops_a_running_search(cohort, tmp_path):
    # A notebook user presses Ctrl-C while a plain search(...) runs: SIGINT to a Python process
    # in the middle of a long search, sent once its first job is stored.
    out = tmp_path / "py"
    settings = dict(cv_folds=5, runs=10, trees=300, threads=1)
    script = (f"import woundphase as wp; wp.search({str(cohort)!r}, {str(out)!r}, **{settings!r})")
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if stored_jobs(out)[0] >= 1:
                break
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0 and "KeyboardInterrupt" in err, err
    jobs, _ = stored_jobs(out)
    total = settings["cv_folds"] * settings["runs"]
    assert 1 <= jobs < total
    assert not (out / "results.csv").exists()
    # The rerun keeps the finished jobs and computes only the rest.
    wp.search(cohort, out, **settings)
    assert stored_jobs(out) == (total, total)


def test_a_raising_callback_stops_the_search(cohort, tmp_path):
    class Stop(Exception):
        pass

    def stop(event):
        if event["done"] == 1:
            raise Stop()

    with pytest.raises(Stop):
        wp.search(cohort, tmp_path / "py", progress=stop, threads=1, **SEARCH_SETTINGS)
    assert stored_jobs(tmp_path / "py")[0] == 1


def test_an_image_search_finds_the_vision_library(tmp_path, cli):
    # The networks live in libwoundphase_vision.so, which the package points the core at (the
    # running program is python3 here, so the program's own lookup beside it would fail).
    study = tmp_path / "study"
    wp.synth(study, patients=16, seed=4, image_scale=0.05)
    settings = {"cv_folds": 2, "trees": 20, "epochs": 1, "image_size": 32}
    result = wp.search(study, tmp_path / "py", ["thermal_map"], threads=2, **settings)
    cli("--threads", 2, "search", "--data", study, "--out", tmp_path / "cli", "--modalities",
        "thermal_map", *flags(settings))
    assert list(result.results["modalities"]) == ["thermal_map"]
    for name in ["results.csv", "folds.csv", "predictions.csv"]:
        assert read_bytes(result.out, name) == read_bytes(tmp_path / "cli", name), name

    # Ctrl-C in the middle of a network's training (an epoch event from inside the vision
    # library) stops the search; the rerun resumes and writes the same bytes.
    out = tmp_path / "interrupted"
    steps = []

    def interrupt(event):
        if event["step"] and "epoch" in event["message"]:
            steps.append(event)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        wp.search(study, out, ["thermal_map"], threads=1, progress=interrupt, **settings)
    assert len(steps) == 1 and not (out / "results.csv").exists()
    result = wp.search(study, out, ["thermal_map"], threads=1, **settings)
    for name in ["results.csv", "folds.csv", "predictions.csv"]:
        assert read_bytes(result.out, name) == read_bytes(tmp_path / "cli", name), name


def test_a_dataframe_searches_as_its_folder(cohort, cli_run, tmp_path):
    table = pd.read_csv(cohort / "DataMaster_Processed_V12_WithMissing.csv", encoding="utf-8-sig")
    result = wp.search(table, tmp_path / "py", threads=2, **SEARCH_SETTINGS)
    for name in ["results.csv", "folds.csv", "predictions.csv", "comparisons.csv"]:
        assert read_bytes(result.out, name) == read_bytes(cli_run, name), name


def test_progress_true_uses_tqdm_when_installed(cohort, tmp_path, monkeypatch):
    # A stand-in for tqdm.auto.tqdm that records what the bar was told.
    bars = []

    class FakeTqdm:
        def __init__(self, total, unit, initial):
            self.total, self.n, self.closed, self.postfix = total, initial, False, []
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix_str(self, text):
            self.postfix.append(text)

        def close(self):
            self.closed = True

    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    wp.search(cohort, tmp_path / "py", progress=True, **SEARCH_SETTINGS)
    assert len(bars) == 1
    assert (bars[0].total, bars[0].n, bars[0].closed) == (JOBS, JOBS, True)


def test_a_programs_search_folder_reads_as_a_search_result(cli_run):
    result = wp.SearchResult(cli_run)
    pd.testing.assert_frame_equal(result.results, pd.read_csv(cli_run / "results.csv"))
    assert result.report == cli_run / "report.html" and result.report.is_file()
    assert "metadata" in repr(result) and "<table" in result._repr_html_()
