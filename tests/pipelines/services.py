"""Real services for the scale-out tests, on loopback, in a temporary folder: PostgreSQL and Redis from
Debian's packages (installed with apt-get when missing), started and stopped by the tests themselves."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.pipelines.browser import free_port


def ensure_debian_package(binary: str, package: str) -> Path:
    """The file `binary` (a path or glob), after `apt-get install package` when it is missing."""
    found = sorted(glob.glob(binary))
    if found:
        return Path(found[-1])
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"this test needs {binary} (Debian package {package}), and this machine has no apt-get to install it")
    command = [apt, "install", "-y", "-q", package]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([*command[:command.index("install")], "update", "-q"], capture_output=True, text=True, env=env, timeout=900)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    found = sorted(glob.glob(binary))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"installing {package} with apt-get failed ({done.returncode}): {' | '.join(tail)}")
    return Path(found[-1])


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the package's `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>, trust auth, one database."""

    def __init__(self, root: Path, database: str = "dagster", user: str = "liqlevels"):
        bin_dir = ensure_debian_package("/usr/lib/postgresql/*/bin/pg_ctl", "postgresql").parent
        if os.geteuid() == 0:  # the `postgres` user cannot enter pytest's private tmp folders: a folder of its own
            root = Path(tempfile.mkdtemp(prefix="liqlevels-pg-"))
            os.chmod(root, 0o755)
        self.port, self.database, self.user = free_port(), database, user
        self.data = root / "pgdata"
        self.socket = root / "pgsock"
        for folder in (root, self.data, self.socket):
            folder.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
        self.log = root / "postgres.log"
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.log, "postgres", "postgres")
        run = lambda *c: subprocess.run(_as_postgres(list(c)), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
        run(str(bin_dir / "initdb"), "-D", str(self.data), "-U", user, "-A", "trust", "--no-sync")
        run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.socket} -c fsync=off", "start")
        self._pg_ctl = bin_dir / "pg_ctl"
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", user, database)

    def env(self) -> dict[str, str]:
        return {"LIQLEVELS_PG_HOST": "127.0.0.1", "LIQLEVELS_PG_PORT": str(self.port), "LIQLEVELS_PG_USER": self.user,
                "LIQLEVELS_PG_PASSWORD": "", "LIQLEVELS_PG_DB": self.database}

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self._pg_ctl), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)


class Redis:
    """redis-server on 127.0.0.1:<free port>, nothing persisted."""

    def __init__(self, root: Path):
        server = ensure_debian_package("/usr/bin/redis-server", "redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([str(server), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(root)],
                                        stdout=open(root / "redis.log", "w"), stderr=subprocess.STDOUT)
        cli = shutil.which("redis-cli")
        for _ in range(100):
            if cli and subprocess.run([cli, "-p", str(self.port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {self.port}: {(root / 'redis.log').read_text()[-500:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
