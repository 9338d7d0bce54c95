"""synth and inspect: the program's files and report, plus values a notebook can use."""

import woundphase as wp
from conftest import COHORT_PATIENTS, visit_wounds

CSV = "DataMaster_Processed_V12_WithMissing.csv"


def test_synth_writes_the_programs_bytes(tmp_path, cli):
    summary = wp.synth(tmp_path / "py", patients=20, seed=3, signal=0.5, no_images=True)
    cli("synth", "--out", tmp_path / "cli", "--patients", 20, "--seed", 3, "--signal", 0.5,
        "--no-images")
    assert (tmp_path / "py" / CSV).read_bytes() == (tmp_path / "cli" / CSV).read_bytes()
    assert summary["patients"] == 20 and sum(summary["class_counts"]) == summary["visit_wounds"]


def test_synth_with_images_counts_them(tmp_path):
    summary = wp.synth(tmp_path / "py", patients=6, seed=3, image_scale=0.05)
    assert summary["images"]["Thermal_Map_IMG"] == len(list((tmp_path / "py" / "Thermal_Map_IMG").iterdir()))
    assert summary["images"]["Thermal_Map_IMG"] > 0


def test_inspect_gives_counts_and_the_programs_report(cohort, cli):
    info = wp.inspect(cohort)
    assert info["visit_wounds"] == visit_wounds(cohort) and info["patients"] == COHORT_PATIENTS
    assert info["has_labels"] and sum(info["class_counts"].values()) == info["visit_wounds"]
    assert info["text"] == cli("inspect", "--data", cohort).stdout
    by_name = {f["name"]: f for f in info["features"]}
    assert by_name["Age"]["kind"] == "numeric"
