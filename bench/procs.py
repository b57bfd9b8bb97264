"""Child processes of a benchmark: free ports, CPU pinning, start, readiness, clean stop.

Every child starts in its own session (process group), so stopping it also stops anything it
started; `Proc` is a context manager and the caller's ``finally`` always runs `stop`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
# One directory per run (runs may overlap, e.g. two test sessions); kept only when it failed.
LOG_DIR = ROOT / "bench" / "results" / "logs" / str(os.getpid())
PYTHON = sys.executable
HOST = "127.0.0.1"

# The server under test (and the dispatcher) on one core, the load generator (and the
# notification receiver) on the other, so neither steals the other's CPU.
SERVER_CORE = 0
LOAD_CORE = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Pinning:
    """`taskset -c N` prefixes, or nothing (with a warning) where pinning is impossible."""

    def __init__(self, enabled: bool = True) -> None:
        self.warning: str | None = None
        self.taskset = shutil.which("taskset") if enabled else None
        if not enabled:
            self.warning = "CPU pinning disabled (--no-pin): server and load share all cores"
        elif self.taskset is None:
            self.warning = "taskset (util-linux) not found: processes are not pinned to cores"
        elif len(os.sched_getaffinity(0)) < 2 or not {
            SERVER_CORE,
            LOAD_CORE,
        } <= os.sched_getaffinity(0):
            self.warning = "fewer than 2 usable cores: processes are not pinned"
            self.taskset = None
        elif subprocess.run([self.taskset, "-c", str(LOAD_CORE), "true"], check=False).returncode:
            self.warning = "taskset failed (no permission?): processes are not pinned"
            self.taskset = None

    @property
    def active(self) -> bool:
        return self.taskset is not None

    def prefix(self, core: int) -> list[str]:
        return [self.taskset, "-c", str(core)] if self.taskset else []


class ChildFailed(RuntimeError):
    pass


class Proc:
    """One child process in its own process group, its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        pinning: Pinning,
        core: int,
        env: Mapping[str, str] | None = None,
        capture_stdout: bool = False,
    ) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        # Processes watching this one (a profiler): stopped after it, so they can write out.
        self.companions: list[Proc] = []
        self.log_path = LOG_DIR / f"{name}.log"
        self._log = self.log_path.open("wb")
        # This checkout's code first: the venv may hold an editable install of another one.
        paths = [str(ROOT), str(ROOT / "src"), str(ROOT / "sdk" / "src")]
        child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **(env or {})}
        self.popen = subprocess.Popen(
            [*pinning.prefix(core), *argv],
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else self._log,
            stderr=self._log,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise ChildFailed(
                f"{self.name} exited with {self.popen.returncode}; log {self.log_path}:\n"
                f"{self.log_tail()}"
            )

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                return
            time.sleep(0.05)
        raise ChildFailed(f"{self.name} did not listen on {port} within {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (Linux /proc), 0.0 where unavailable."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        else:
            # The leader is gone; make sure nothing it started survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()
        for companion in self.companions:
            with contextlib.suppress(subprocess.TimeoutExpired):
                companion.popen.wait(15)  # py-spy writes its file when its target exits
            companion.stop()

    def __enter__(self) -> Proc:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def uvicorn_argv(app: str, port: int, *, factory: bool = False) -> list[str]:
    """The one uvicorn command line, shared by the server under test and the floor."""
    argv = [PYTHON, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log", "--backlog", "2048"]
    return [*argv, "--factory"] if factory else argv
