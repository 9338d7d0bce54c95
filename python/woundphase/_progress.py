"""Progress for search() and train(): a caller's function, or a bar (tqdm's when installed)."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Union

# The plain bar's width in characters, and how often it is redrawn at most (seconds).
_BAR_WIDTH = 30
_REDRAW_INTERVAL = 0.1


class _TextBar:
    """A tqdm-style bar on stderr: jobs done of total, elapsed, ETA, the current step."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.done = 0
        self.total = 0
        self.step = ""

    def __call__(self, event: dict) -> None:
        if event["step"]:
            self.step = f"{event['message']} [{event['done']}/{event['total']}]"
        elif event["total"] > 0:
            self.done, self.total, self.step = event["done"], event["total"], ""
        else:
            return  # notes: the log has them
        now = time.monotonic()
        if now - self.last_draw < _REDRAW_INTERVAL and self.done < self.total:
            return
        self.last_draw = now
        elapsed = now - self.start
        share = self.done / self.total if self.total else 0.0
        filled = int(share * _BAR_WIDTH)
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        self.stream.write(
            f"\r[{'#' * filled}{' ' * (_BAR_WIDTH - filled)}] {self.done}/{self.total} jobs "
            f"{100 * share:3.0f}%  {elapsed:.0f}s elapsed, ETA {eta:.0f}s  {self.step}\x1b[K"
        )
        if self.total and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


class _TqdmBar:
    """tqdm's bar over jobs; steps (epochs, decoding) go to its postfix."""

    def __init__(self, tqdm):
        self.tqdm = tqdm
        self.bar = None

    def __call__(self, event: dict) -> None:
        if event["total"] <= 0:
            return
        if event["step"]:
            if self.bar is not None:
                self.bar.set_postfix_str(f"{event['message']} {event['done']}/{event['total']}")
            return
        if self.bar is None:
            self.bar = self.tqdm(total=event["total"], unit="job", initial=event["done"] - 1)
        self.bar.update(event["done"] - self.bar.n)
        if event["done"] == event["total"]:
            self.bar.close()


def progress_function(
    progress: Union[None, bool, str, Callable[[dict], Any]]
) -> Optional[Callable[[dict], Any]]:
    """None -> no progress; True or "bar" -> a bar (tqdm.auto's when installed, else text on
    stderr); a callable -> itself (called on the caller's thread, one dict per event)."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    if progress is True or progress == "bar":
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _TextBar()
        return _TqdmBar(tqdm)
    raise TypeError(f"progress must be None, True, 'bar' or a callable, not {progress!r}")
