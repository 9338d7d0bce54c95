"""woundphase from Python: searches, bundles and synthetic cohorts as pandas DataFrames.

The package runs the same C++ code as the ``woundphase`` program (a search from Python writes the
same bytes as ``woundphase search`` with the same settings), in a thread of its own with the GIL
released. Every setting is a keyword named as the program's option in snake_case
(``--cv-folds`` -> ``cv_folds``), with the same default, bounds and check; ``help(woundphase.search)``
lists them. Bad input raises :class:`InputError` (a ``ValueError``) with ``file``, ``line`` and
``column`` when the error is in a file. Ctrl-C (or a progress callback that raises) stops a search
after the job in progress; every finished job is stored in ``out/woundphase.db``, so calling the
same search again resumes it.

    >>> import woundphase as wp
    >>> run = wp.search("../shared/data/dfu", "runs/meta", runs=3, trees=300)
    >>> run.results[["modalities", "qwk_mean", "qwk_std"]]
"""

from __future__ import annotations

import os
import pathlib


def _point_at_vision_library() -> None:
    """Image networks live in libwoundphase_vision.so, which the C++ core looks for beside the
    running program unless WOUNDPHASE_VISION_LIB names it; under Python the program is python3,
    so name the library of this build tree or installation."""
    if os.environ.get("WOUNDPHASE_VISION_LIB"):
        return
    here = pathlib.Path(__file__).resolve().parent
    candidates = (
        here.parent.parent / "libwoundphase_vision.so",  # build/python/woundphase -> build/
        here.parent.parent.parent / "woundphase" / "libwoundphase_vision.so",  # PREFIX/lib/...
    )
    for candidate in candidates:
        if candidate.is_file():
            os.environ["WOUNDPHASE_VISION_LIB"] = str(candidate)
            return


_point_at_vision_library()

from . import _core  # noqa: E402  (after the library path is known)
from ._core import InputError  # noqa: E402
from ._api import (  # noqa: E402
    Bundle,
    SearchResult,
    inspect,
    search,
    synth,
    train,
)

__version__ = _core.__version__
__all__ = ["Bundle", "InputError", "SearchResult", "inspect", "search", "synth", "train"]
