"""`convtrack` refuses to start, at once and in one paragraph, when it cannot run (issue 9).

Real processes: `python -m adapters.cli` with a data folder another process holds, or with
settings naming servers that are malformed or not there. None of them starts anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from adapters.runtime.data_dir_lock import LOCK_FILE, DataDirInUse, DataDirLock

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def convtrack(*args: str, data_dir: Path, timeout: float = 30, **settings: str
              ) -> subprocess.CompletedProcess[str]:
    """Run the command line with only these CONVTRACK_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVTRACK_")}
    env |= {"CONVTRACK_DATA_DIR": str(data_dir), "CONVTRACK_LOG_LEVEL": "WARNING"}
    env |= {f"CONVTRACK_{name.upper()}": value for name, value in settings.items()}
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_paragraph(refused: subprocess.CompletedProcess[str], *names: str) -> None:
    assert refused.returncode == 2, refused.stderr
    message = refused.stderr.strip()
    assert "Traceback" not in message
    assert message and "\n" not in message, message
    assert message.startswith("convtrack "), message
    for name in names:
        assert name in message, (name, message)


def test_a_second_lock_on_a_data_dir_is_refused_naming_the_holders_pid_until_released(
        tmp_path: Path) -> None:
    with DataDirLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock(tmp_path).acquire()
        assert refused.value.pid == os.getpid()
        assert str(tmp_path.resolve()) in str(refused.value)
    with DataDirLock(tmp_path):  # released: the next process may have it
        pass


def test_a_second_serve_on_a_held_data_dir_exits_at_once_naming_the_dir_and_the_pid(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DataDirLock(data_dir):
        began = time.monotonic()
        refused = convtrack("serve", data_dir=data_dir)
        assert time.monotonic() - began < 10
    assert_one_paragraph(refused, str(data_dir.resolve()), f"process {os.getpid()}")
    # Nothing was started or written: no embedded server, no admin token.
    assert sorted(p.name for p in data_dir.iterdir()) == [LOCK_FILE]


@pytest.mark.parametrize("url", ["not a url", "postgresql://u@[::1/db"])
def test_serve_with_a_malformed_database_url_exits_with_one_paragraph_naming_the_setting(
        tmp_path: Path, url: str) -> None:
    refused = convtrack("serve", data_dir=tmp_path, database_url=url)
    assert_one_paragraph(refused, "CONVTRACK_DATABASE_URL", "not a PostgreSQL connection URL")


def test_serve_with_an_unreachable_database_exits_with_one_paragraph_naming_the_setting(
        tmp_path: Path) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{closed_port()}/convtrack"
    refused = convtrack("serve", data_dir=tmp_path, database_url=url)
    assert_one_paragraph(refused, "CONVTRACK_DATABASE_URL", "could not be reached")
    assert "secret" not in refused.stderr  # the password is never shown


def test_serve_with_a_malformed_nats_url_exits_with_one_paragraph_naming_the_setting(
        tmp_path: Path, database_url: str) -> None:
    refused = convtrack("serve", data_dir=tmp_path, database_url=database_url,
                        nats_url="http://127.0.0.1:4222")
    assert_one_paragraph(refused, "CONVTRACK_NATS_URL", "not a NATS URL")


def test_worker_with_an_unreachable_nats_exits_with_one_paragraph_naming_the_setting(
        tmp_path: Path, database_url: str) -> None:
    began = time.monotonic()
    refused = convtrack("worker", data_dir=tmp_path, database_url=database_url,
                        nats_url=f"nats://127.0.0.1:{closed_port()}")
    assert_one_paragraph(refused, "CONVTRACK_NATS_URL", "no NATS server", "refused")
    assert time.monotonic() - began < 10  # a refused port is not retried until a timeout


def test_worker_with_an_unreachable_database_exits_with_one_paragraph_naming_the_setting(
        tmp_path: Path, nats_url: str) -> None:
    refused = convtrack("worker", data_dir=tmp_path, nats_url=nats_url,
                        database_url=f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    assert_one_paragraph(refused, "CONVTRACK_DATABASE_URL", "could not be reached")


def test_debug_shows_the_traceback_of_a_refused_start(tmp_path: Path) -> None:
    refused = convtrack("serve", "--debug", data_dir=tmp_path, database_url="not a url")
    assert refused.returncode != 0
    assert "Traceback" in refused.stderr and "CONVTRACK_DATABASE_URL" in refused.stderr


def test_version_prints_the_packages_version(tmp_path: Path) -> None:
    answer = convtrack("--version", data_dir=tmp_path)
    assert (answer.returncode, answer.stdout.strip()) == (0, f"convtrack {version('convtrack')}")
