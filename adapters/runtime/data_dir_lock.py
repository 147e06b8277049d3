"""One `convtrack serve` per data folder: an exclusive lock on `<data_dir>/convtrack.lock`.

Two processes on one folder would start two embedded PostgreSQL servers on the same files and
hand out the same admin token (issue 9). `flock` locks belong to the open file, so the kernel
drops the lock when the process ends, however it ends: a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO

LOCK_FILE = "convtrack.lock"


class DataDirInUse(RuntimeError):
    """Another process holds the data folder."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"the data folder {data_dir} is in use by {holder} (its lock: "
                         f"{data_dir / LOCK_FILE}); stop that process, or give this one "
                         "another folder with --data-dir or CONVTRACK_DATA_DIR")
        self.data_dir = data_dir
        self.pid = pid


class DataDirLock:
    """Holds the data folder's lock, with this process's id written in the file, until released."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.path = self.data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> DataDirLock:
        """Take the lock at once, or raise DataDirInUse naming the holder's pid."""
        if self._file is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: the holder's pid must stay readable to the loser.
        lock_file = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 (kept open)
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            text = lock_file.read().strip()
            lock_file.close()
            raise DataDirInUse(self.data_dir, int(text) if text.isdigit() else None) from None
        except BaseException:
            lock_file.close()
            raise
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._file = lock_file
        return self

    def release(self) -> None:
        """Let another process have the folder (the file stays; only the lock matters)."""
        lock_file, self._file = self._file, None
        if lock_file is None:
            return
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.close()  # closing the file releases the flock

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
