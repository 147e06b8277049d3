"""A progress bar for long work (demo load, imports, rebuilds) on a terminal or in logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Draws `label [#####.....] done/total rate/s` on stderr, at most a few times a second."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._drawn = 0.0

    def advance(self, count: int = 1) -> None:
        """Count finished work and redraw if enough time passed."""
        self.done += count
        now = time.monotonic()
        if now - self._drawn > 0.2 or self.done >= self.total:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        filled = int(width * min(self.done, self.total) / self.total)
        rate = self.done / max(now - self.started, 1e-9)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done:,}/{self.total:,} {rate:,.0f}/s")
        self.stream.write(line)
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
