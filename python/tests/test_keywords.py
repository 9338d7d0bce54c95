"""Keywords come from the registry: the program's options, defaults and docs, in snake_case."""

import inspect
import pydoc

import woundphase as wp


def program_defaults(cli, command):
    """`woundphase COMMAND --print-config`: every option of COMMAND with its default."""
    args = {"search": ["--data", "x", "--out", "y"], "train": ["--data", "x", "--out", "y"],
            "synth": ["--out", "y"]}[command]
    done = cli(command, *args, "--print-config")
    values = {}
    for line in done.stdout.splitlines():
        if line.startswith(command + "."):
            key, value = line[len(command) + 1:].split("=", 1)
            values[key.replace("-", "_")] = value.strip("'\"")
    return values


def as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_command(cli, command, function, not_knobs):
    expected = program_defaults(cli, command)
    parameters = inspect.signature(function).parameters
    knobs = {n: p for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY}
    for name in not_knobs:
        expected.pop(name, None)
    # Python's `from` is reserved: the keyword is from_.
    expected = {("from_" if k == "from" else k): v for k, v in expected.items()}
    extra = set(knobs) - set(expected) - {"schema", "resume", "threads", "verbosity", "progress"}
    assert not extra, extra
    for name, value in expected.items():
        assert name in knobs, name
        default = knobs[name].default
        if isinstance(default, float):
            assert float(value) == default, name
        else:
            assert value == as_text(default), name


def test_search_keywords_are_the_programs_options(cli):
    check_command(cli, "search", wp.search, ["data", "out", "modalities", "schema", "resume"])


def test_train_keywords_are_the_programs_options(cli):
    # from_search and combination pick a search folder's settings: the program's way in; from
    # Python the settings are keywords already.
    check_command(cli, "train", wp.train,
                  ["data", "out", "modalities", "schema", "from_search", "combination"])


def test_synth_keywords_are_the_programs_options(cli):
    check_command(cli, "synth", wp.synth, ["out"])


def test_help_lists_every_keyword_with_its_doc():
    text = pydoc.render_doc(wp.search, renderer=pydoc.plaintext)
    flat = " ".join(text.split())
    for knob in wp._core.search_knobs():
        assert f"{knob['name']} ({knob['type']}, default {knob['default']!r}" in flat, knob["name"]
        assert " ".join(knob["doc"].split()) in flat, knob["name"]
    for group in ["Search:", "Metadata branch (tree model):", "Image branches:",
                  "Fusion (combinations of several modalities):"]:
        assert group in text
    assert "cv_folds" in inspect.signature(wp.search).parameters
