"""train -> Bundle -> predict: the round trip, and the program's predict bytes."""

import pandas as pd

import woundphase as wp
from conftest import visit_wounds

TRAIN = {"trees": 40, "model": "rf", "seed": 5}


def test_train_then_predict_reproduces_the_training_probabilities(cohort, tmp_path, cli):
    bundle = wp.train(cohort, tmp_path / "bundle", threads=2, **TRAIN)
    assert bundle.combination == "metadata"
    assert bundle.manifest["modalities"] == "metadata"

    frame = bundle.predict(cohort)
    assert list(frame.columns) == ["patient", "appt", "dfu", "label", "prob_I", "prob_P",
                                   "prob_R", "pred", "modalities_used"]
    assert (frame["modalities_used"] == "metadata").all()
    assert len(frame) == visit_wounds(cohort)
    # predict on the training cohort gives back train_predictions.csv, byte for byte.
    bundle.predict(cohort, tmp_path / "preds.csv")
    assert (tmp_path / "preds.csv").read_bytes() == (
        tmp_path / "bundle" / "train_predictions.csv").read_bytes()
    pd.testing.assert_frame_equal(frame, bundle.train_predictions)
    scores = frame.attrs["scores"]
    assert scores["n"] == len(frame) and 0 < scores["accuracy"] <= 1
    assert sum(map(sum, scores["confusion"])) == len(frame)

    # The program's train and predict write the same files.
    cli("--threads", 2, "train", "--data", cohort, "--out", tmp_path / "cli_bundle",
        "--trees", 40, "--model", "rf", "--seed", 5)
    cli("predict", "--model", tmp_path / "cli_bundle", "--data", cohort, "--out",
        tmp_path / "cli.csv")
    assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "preds.csv").read_bytes()
    assert (tmp_path / "cli_bundle" / "train_predictions.csv").read_bytes() == (
        tmp_path / "bundle" / "train_predictions.csv").read_bytes()


def test_a_loaded_bundle_predicts_unlabelled_data(cohort, tmp_path):
    wp.train(cohort, tmp_path / "bundle", **TRAIN)
    study = tmp_path / "unlabelled"
    study.mkdir()
    csv = "DataMaster_Processed_V12_WithMissing.csv"
    table = pd.read_csv(cohort / csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    table.drop(columns=["Healing Phase Abs"]).to_csv(study / csv, index=False)
    bundle = wp.Bundle.load(tmp_path / "bundle")
    frame = bundle.predict(study)
    assert "label" not in frame.columns and "scores" not in frame.attrs
    labelled = bundle.predict(cohort)
    pd.testing.assert_frame_equal(frame, labelled.drop(columns=["label"]))


def metadata_frame(cohort):
    return pd.read_csv(cohort / "DataMaster_Processed_V12_WithMissing.csv", encoding="utf-8-sig")


def test_dataframes_in_give_what_the_folder_gives(cohort, tmp_path):
    bundle = wp.train(cohort, tmp_path / "bundle", **TRAIN)
    table = metadata_frame(cohort)
    pd.testing.assert_frame_equal(bundle.predict(table), bundle.predict(cohort))
    from_frame = wp.train(table, tmp_path / "bundle_df", **TRAIN)
    pd.testing.assert_frame_equal(from_frame.train_predictions, bundle.train_predictions)
    unlabelled = bundle.predict(table.drop(columns=["Healing Phase Abs"]))
    assert "label" not in unlabelled.columns
    assert wp.inspect(table)["visit_wounds"] == len(unlabelled)


def test_a_bad_value_in_a_dataframe_names_its_line(cohort, tmp_path):
    bundle = wp.train(cohort, tmp_path / "bundle", **TRAIN)
    table = metadata_frame(cohort)
    table["Age"] = table["Age"].astype(object)
    table.loc[3, "Age"] = "forty"
    try:
        bundle.predict(table)
    except wp.InputError as e:
        assert (e.line, e.column_name) == (3 + 2, "Age")  # the header is line 1
    else:
        raise AssertionError("no InputError")
