"""The package's functions: keywords from the C++ parameter registry, outputs as DataFrames."""

from __future__ import annotations

import contextlib
import difflib
import inspect as _inspect
import json
import os
import pathlib
import tempfile
import textwrap
from typing import Any, Callable, Iterable, Optional, Union

import pandas as pd

from . import _core
from ._progress import progress_function

PathLike = Union[str, "os.PathLike[str]"]

# The search's output files read into SearchResult, attribute -> file (absent files give None).
_SEARCH_TABLES = {
    "results": "results.csv",
    "folds": "folds.csv",
    "predictions": "predictions.csv",
    "comparisons": "comparisons.csv",
    "complementarity": "complementarity.csv",
    "oof_predictions": "oof_predictions.csv",
    "splits": "splits.csv",
}


def _path(value: Optional[PathLike]) -> str:
    return "" if value is None else os.fspath(value)


Data = Union[PathLike, pd.DataFrame]


@contextlib.contextmanager
def _study(data: Data, metadata_file: str):
    """A study folder for `data`: the folder itself, or, for a DataFrame (the metadata table, one
    row per visit-wound, columns as in the study's CSV), a temporary folder holding it as
    `metadata_file` (NaN -> blank, i.e. missing). Error messages then name that file, and line n
    is the frame's row n - 2 (line 1 is the header)."""
    if not isinstance(data, pd.DataFrame):
        yield _path(data)
        return
    with tempfile.TemporaryDirectory(prefix="woundphase-data-") as folder:
        data.to_csv(os.path.join(folder, metadata_file), index=False)
        yield folder


def _modalities(value: Union[str, Iterable[Union[str, Iterable[str]]]]) -> str:
    """'metadata', 'all', ['metadata', 'thermal_map'], [('metadata', 'thermal_map')] -> the
    program's --modalities text (combinations comma-separated, modalities '+'-joined)."""
    if isinstance(value, str):
        return value
    parts = []
    for combination in value:
        parts.append(combination if isinstance(combination, str) else "+".join(combination))
    return ",".join(parts)


def _threads(value: Optional[int]) -> int:
    return _core.default_threads() if value is None else int(value)


class _Keywords:
    """The registry knobs of one command as Python keywords: names, defaults, docs, checks."""

    def __init__(self, knobs: list):
        self.knobs = knobs
        self.names = {k["name"]: k for k in knobs}

    def check_names(self, function: str, settings: dict) -> None:
        for name in settings:
            if name in self.names:
                continue
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise TypeError(f"{function}() got an unexpected keyword argument '{name}'{hint}")

    def parameters(self) -> list:
        return [
            _inspect.Parameter(k["name"], _inspect.Parameter.KEYWORD_ONLY, default=k["default"])
            for k in self.knobs
        ]

    def doc(self) -> str:
        lines = []
        group = None
        for k in self.knobs:
            if k["group"] != group:
                group = k["group"]
                lines += ["", f"{group}:"]
            kind = k["type"]
            bounds = f"; {k['bounds']}" if k["bounds"] else ""
            lines.append(f"    {k['name']} ({kind}, default {k['default']!r}{bounds})")
            lines += textwrap.wrap(k["doc"], 88, initial_indent=" " * 8, subsequent_indent=" " * 8)
        return "\n".join(lines)


_SEARCH_KEYWORDS = _Keywords(_core.search_knobs())
_TRAIN_KEYWORDS = _Keywords(_core.train_knobs())
_SYNTH_KEYWORDS = _Keywords(_core.synth_knobs())


def _document(function: Callable, keywords: _Keywords) -> None:
    """Appends the registry's keywords to the docstring and the signature (help(), notebooks'
    completion and inspect.signature see every setting with its default)."""
    signature = _inspect.signature(function)
    fixed = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    function.__signature__ = signature.replace(parameters=fixed + keywords.parameters())
    settings = textwrap.indent("Settings (keywords):\n" + keywords.doc(), " " * 4)
    function.__doc__ = (function.__doc__ or "").rstrip() + "\n\n" + settings + "\n"


class SearchResult:
    """A search's output folder and its tables as DataFrames.

    Attributes: ``out`` (the folder), ``results`` (one row per combination: QWK, kappa, accuracy,
    F1 means and standard deviations), ``folds`` (per run and fold), ``predictions`` (test-fold
    probabilities per visit-wound), and, where the search wrote them, ``comparisons``,
    ``complementarity``, ``oof_predictions`` and ``splits`` (else None). ``report`` is the path of
    report.html.
    """

    def __init__(self, out: PathLike):
        self.out = pathlib.Path(out)
        for attribute, name in _SEARCH_TABLES.items():
            path = self.out / name
            setattr(self, attribute, pd.read_csv(path) if path.is_file() else None)
        self.report = self.out / "report.html"

    def __repr__(self) -> str:
        table = self.results.to_string(index=False) if self.results is not None else "(none)"
        return f"SearchResult(out={str(self.out)!r})\n{table}"

    def _repr_html_(self) -> str:
        table = self.results.to_html(index=False) if self.results is not None else ""
        return f"<p>woundphase search in <code>{self.out}</code></p>{table}"


def search(
    data: Data,
    out: Optional[PathLike] = None,
    modalities: Union[str, Iterable] = ("metadata",),
    *,
    schema: Optional[PathLike] = None,
    resume: str = "auto",
    threads: Optional[int] = None,
    verbosity: int = 0,
    progress: Union[None, bool, str, Callable[[dict], Any]] = None,
    **settings: Any,
) -> SearchResult:
    """Patient-grouped cross-validation of modality combinations (``woundphase search``).

    data: the study folder (the metadata CSV, image folders, box CSVs), or the metadata table as a
        DataFrame (columns as in the CSV; metadata only). train, predict and inspect take either too.
    out: the output folder (a new temporary folder when None). A folder holding an earlier search
        with the same settings and data is resumed (``resume="auto"``): finished jobs are kept.
    modalities: "metadata", "all", a list of combinations ("metadata+thermal_map" or
        ("metadata", "thermal_map")).
    schema: a TOML file overriding the DFU schema (column roles).
    resume: "fresh" | "auto" | "from_data" | "from_models" | "from_predictions".
    threads: worker threads (default: every core); results never depend on it.
    verbosity: 0 errors only, 1 a line per job, 2 detail (to stderr; out/search.log gets level 2).
    progress: a callable given one dict per event (done, total, message, step), True for a
        progress bar (tqdm's when installed), or None.

    Returns a SearchResult (results, folds, predictions, comparisons as DataFrames). Raises
    InputError for bad input or settings, KeyboardInterrupt on Ctrl-C after the job in progress
    (a second call with the same arguments resumes).
    """
    _SEARCH_KEYWORDS.check_names("search", settings)
    out_dir = _path(out) or tempfile.mkdtemp(prefix="woundphase-search-")
    with _study(data, _core.metadata_file(_path(schema))) as folder:
        _core.search(
            data=folder,
            out=out_dir,
            modalities=_modalities(modalities),
            schema=_path(schema),
            resume=resume,
            threads=_threads(threads),
            verbosity=verbosity,
            settings=settings,
            progress=progress_function(progress),
        )
    return SearchResult(out_dir)


class Bundle:
    """A trained model bundle (``woundphase train``'s output folder), loaded once.

    ``combination``: the modalities it takes; ``manifest``: bundle.json as a dict; ``path``.
    """

    def __init__(self, core: "_core.Bundle"):
        self._core = core
        self.path = pathlib.Path(core.path)
        self.combination = core.combination
        self.temperature = core.temperature

    @classmethod
    def load(cls, path: PathLike) -> "Bundle":
        """Loads a bundle folder; InputError when it is not one."""
        return cls(_core.Bundle.load(_path(path)))

    @property
    def manifest(self) -> dict:
        return json.loads(self._core.manifest)

    @property
    def train_predictions(self) -> pd.DataFrame:
        """The training process's own probabilities for its cohort (train_predictions.csv)."""
        return pd.read_csv(self.path / "train_predictions.csv")

    def predict(
        self, data: Data, out: Optional[PathLike] = None, *, threads: Optional[int] = None
    ) -> pd.DataFrame:
        """Applies the bundle to a study folder, or to a metadata DataFrame for a metadata-only
        bundle (labels optional), as ``woundphase predict``.

        Returns patient, appt, dfu, [label,] prob_I, prob_P, prob_R, pred, modalities_used per
        visit-wound (one lacking some of the combination's images is predicted from the modalities
        it has, named in modalities_used; blank where it has none). With labels,
        ``frame.attrs["scores"]`` holds QWK, kappa, accuracy, macro-F1, per-class F1, the
        confusion matrix and n. With ``out``, the CSV is also written there.
        """
        metadata_file = self.manifest["schema"]["metadata_file"]
        with _study(data, metadata_file) as folder:
            if out is not None:
                scores = self._core.predict(data=folder, out=_path(out), threads=_threads(threads))
                frame = pd.read_csv(out)
            else:
                with tempfile.TemporaryDirectory(prefix="woundphase-predict-") as scratch:
                    csv = os.path.join(scratch, "predictions.csv")
                    scores = self._core.predict(data=folder, out=csv, threads=_threads(threads))
                    frame = pd.read_csv(csv)
        if scores is not None:
            frame.attrs["scores"] = scores
        return frame

    def __repr__(self) -> str:
        return f"Bundle(path={str(self.path)!r}, combination={self.combination!r})"


def train(
    data: Data,
    out: PathLike,
    modalities: Union[str, Iterable] = "metadata",
    *,
    schema: Optional[PathLike] = None,
    threads: Optional[int] = None,
    verbosity: int = 0,
    progress: Union[None, bool, str, Callable[[dict], Any]] = None,
    **settings: Any,
) -> Bundle:
    """Fits one combination on every labelled visit-wound and writes a bundle (``woundphase
    train``); returns it loaded. ``modalities``: one combination ("metadata+thermal_map" or
    ("metadata", "thermal_map")). Other arguments as in search()."""
    _TRAIN_KEYWORDS.check_names("train", settings)
    if not isinstance(modalities, str):
        modalities = "+".join(modalities)
    with _study(data, _core.metadata_file(_path(schema))) as folder:
        _core.train(
            data=folder,
            out=_path(out),
            modalities=modalities,
            schema=_path(schema),
            threads=_threads(threads),
            verbosity=verbosity,
            settings=settings,
            progress=progress_function(progress),
        )
    return Bundle.load(out)


def synth(out: PathLike, *, threads: Optional[int] = None, **settings: Any) -> dict:
    """Writes a synthetic study in the DFU layout (``woundphase synth``): the metadata CSV and,
    unless ``no_images=True``, the image folders and box CSVs. Returns what was written (patients,
    visit_wounds, class_counts, images per folder, seconds). Same seed, same bytes."""
    _SYNTH_KEYWORDS.check_names("synth", settings)
    summary = _core.synth(out=_path(out), threads=_threads(threads), settings=settings)
    summary["out"] = pathlib.Path(out)
    return summary


def inspect(data: Data, *, schema: Optional[PathLike] = None) -> dict:
    """What a study folder holds (``woundphase inspect``): metadata_file, visit_wounds, patients,
    has_labels, class_counts, features (name, kind, missing), warnings, and ``text``, the
    program's full report (columns, images, bounding boxes, problems)."""
    with _study(data, _core.metadata_file(_path(schema))) as folder:
        return _core.inspect(data=folder, schema=_path(schema))


_document(search, _SEARCH_KEYWORDS)
_document(train, _TRAIN_KEYWORDS)
_document(synth, _SYNTH_KEYWORDS)
