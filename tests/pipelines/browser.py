"""A real Dagster UI in a real browser: `dg dev` on loopback and Debian's headless Chromium driven by
Playwright. The set-up installs Chromium from Debian's packages when it is missing (Playwright's own
browser download is never used, so the test needs no registry beyond the machine's)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network: without the background-networking ones Chromium keeps trying Google's hosts.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def ensure_chromium() -> Path:
    """/usr/bin/chromium, installed with apt-get when missing; an error says what failed."""
    from tests.pipelines.services import ensure_debian_package

    return ensure_debian_package(str(CHROMIUM), "chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]


class DagsterDev:
    """`dg dev` of the project (the same command as `make dev`) on a free loopback port."""

    LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"

    def __init__(self, project: Path, env: dict[str, str], log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        venv = Path(sys.executable).parent
        self.log = log
        self._out = open(log, "w")
        self.process = subprocess.Popen(
            [str(venv / "dg"), "dev", "-h", "127.0.0.1", "-p", str(self.port)], cwd=project, stdout=self._out, stderr=subprocess.STDOUT,
            env={**os.environ, **env, "VIRTUAL_ENV": str(venv.parent), "PATH": f"{venv}{os.pathsep}{os.environ['PATH']}"},
            start_new_session=True)

    def wait(self, timeout: float = 180) -> list[dict]:
        """The workspace's locations once every one has loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dg dev exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                entries = graphql(self.base, self.LOCATIONS)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return entries
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"dg dev did not load in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._out.close()
