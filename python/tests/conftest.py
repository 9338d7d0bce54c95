"""Fixtures of the Python package's tests: a tiny synthetic cohort and the program beside it.

ctest runs these with PYTHONPATH=build/python and WOUNDPHASE_BINARY=build/woundphase."""

import os
import pathlib
import subprocess

import pandas as pd
import pytest

import woundphase as wp

# A tiny cohort keeps each search under a second: 30 patients, metadata only.
COHORT_PATIENTS = 30
COHORT_SEED = 11
# The settings every byte-for-byte comparison runs with, as keywords and as the program's flags.
SEARCH_SETTINGS = {"cv_folds": 3, "runs": 2, "trees": 40, "sampling": "combined_smote"}


def flags(settings):
    """Keywords -> the program's flags (cv_folds=3 -> --cv-folds 3; True -> a bare flag)."""
    out = []
    for name, value in settings.items():
        flag = "--" + name.rstrip("_").replace("_", "-")
        if value is True:
            out.append(flag)
        else:
            out += [flag, str(value)]
    return out


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("WOUNDPHASE_BINARY")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("WOUNDPHASE_BINARY must name the built program (ctest sets it)")
    return path


@pytest.fixture(scope="session")
def cli(binary):
    """Runs the program; returns the completed process (check=False: tests read the code)."""

    def run(*args, check=True):
        done = subprocess.run([binary, "--verbosity", "0", *map(str, args)], capture_output=True,
                              text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"woundphase {' '.join(map(str, args))}: {done.stderr}")
        return done

    return run


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    wp.synth(out, patients=COHORT_PATIENTS, seed=COHORT_SEED, no_images=True)
    return out


def visit_wounds(study: pathlib.Path) -> int:
    """The study's visit-wounds, counted with pandas (not with woundphase)."""
    table = pd.read_csv(study / "DataMaster_Processed_V12_WithMissing.csv", encoding="utf-8-sig")
    return len(table.drop_duplicates(["Patient#", "Appt#", "DFU#"]))


def read_bytes(folder: pathlib.Path, name: str) -> bytes:
    return (folder / name).read_bytes()
