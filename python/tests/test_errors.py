"""Bad input and bad settings: InputError (a ValueError) naming file, line, column or keyword."""

import shutil

import pytest

import woundphase as wp

CSV = "DataMaster_Processed_V12_WithMissing.csv"


def corrupt(cohort, tmp_path, line_number, edit):
    """A copy of the cohort whose metadata line `line_number` (1-based) is edit(line)."""
    study = tmp_path / "study"
    shutil.copytree(cohort, study)
    raw = (study / CSV).read_bytes().split(b"\r\n")
    raw[line_number - 1] = edit(raw[line_number - 1])
    (study / CSV).write_bytes(b"\r\n".join(raw))
    return study


def test_input_error_is_a_value_error():
    assert issubclass(wp.InputError, ValueError)


def test_a_row_with_too_many_fields_names_its_line(cohort, tmp_path, cli):
    study = corrupt(cohort, tmp_path, 7, lambda line: line + b",extra")
    with pytest.raises(wp.InputError) as caught:
        wp.search(study, tmp_path / "out")
    e = caught.value
    assert e.file.endswith(CSV) and e.line == 7
    assert "expected 72 fields as in the header, found 73" in str(e)
    # The same message as the program's, which exits 2.
    done = cli("search", "--data", study, "--out", tmp_path / "cli", check=False)
    assert done.returncode == 2 and str(e) in done.stderr
    assert not (tmp_path / "out" / "results.csv").exists()


def test_a_bad_value_names_line_and_column(cohort, tmp_path):
    header = (cohort / CSV).read_bytes().split(b"\r\n")[0].decode("utf-8-sig").split(",")
    column = header.index("Age") + 1

    def bad_age(line):
        cells = line.split(b",")
        cells[column - 1] = b"forty"
        return b",".join(cells)

    study = corrupt(cohort, tmp_path, 4, bad_age)
    with pytest.raises(wp.InputError) as caught:
        wp.inspect(study)
    e = caught.value
    assert (e.line, e.column, e.column_name) == (4, column, "Age")
    assert "forty" in str(e)


def test_an_unclosed_quote_names_the_record_it_opens(cohort, tmp_path):
    lines = (cohort / CSV).read_bytes().split(b"\r\n")
    last = max(i for i, line in enumerate(lines) if line) + 1
    study = corrupt(cohort, tmp_path, last, lambda line: line.replace(b",", b',"', 1))
    with pytest.raises(wp.InputError) as caught:
        wp.train(study, tmp_path / "bundle")
    assert caught.value.line == last and "ends inside a quoted field" in str(caught.value)
    assert not (tmp_path / "bundle").exists()


def test_settings_are_checked_as_on_the_command_line(cohort, tmp_path):
    out = tmp_path / "out"
    cases = {
        "trees must be in [1, 10000], got 0": {"trees": 0},
        "model must be one of rf, gbdt, stack; got 'forest'": {"model": "forest"},
        "cv_folds: 2.5 is not an integer": {"cv_folds": 2.5},
        "cv_folds: '3x' is not an integer": {"cv_folds": "3x"},
        "shuffle_labels: expects bool, got an int 1": {"shuffle_labels": 1},
    }
    for message, settings in cases.items():
        with pytest.raises(wp.InputError, match=message.replace("[", r"\[").replace("(", r"\(")):
            wp.search(cohort, out, **settings)
    with pytest.raises(wp.InputError, match=r"verbosity must be in \[0, 3\], got 4"):
        wp.search(cohort, out, verbosity=4)
    with pytest.raises(wp.InputError, match=r"threads must be"):
        wp.search(cohort, out, threads=0)
    # Text values read as the program reads them.
    wp.search(cohort, out, cv_folds="2", trees="10", shuffle_labels="true", resume="fresh")


def test_an_unknown_keyword_is_a_type_error_with_a_suggestion(cohort, tmp_path):
    with pytest.raises(TypeError, match="'cv_fold'; did you mean 'cv_folds'"):
        wp.search(cohort, tmp_path / "out", cv_fold=3)


def test_not_a_bundle(tmp_path):
    with pytest.raises(wp.InputError):
        wp.Bundle.load(tmp_path)
