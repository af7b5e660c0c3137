"""A throwaway PostgreSQL cluster for the suite: ``initdb`` in a temporary directory,
``postgres`` bound to 127.0.0.1 on a free port with trust authentication, run as the
``postgres`` user (``runuser``) when the suite runs as root, stopped and deleted at the
end. The binaries are found with ``pg_config --bindir`` (Debian:
/usr/lib/postgresql/15/bin); ``make test`` installs Debian's ``postgresql`` package
when it is missing."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["bindir", "postgres_cluster"]


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or ``None`` when PostgreSQL is missing."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidates.append(found)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yield its URL (``postgresql://postgres@127.0.0.1:<port>/postgres``)."""
    binaries = bindir()
    if binaries is None:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install -y postgresql` (make test does)"
        )
    as_postgres: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        owner = pwd.getpwnam("postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="tfso-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "log"
    port = _free_port()

    def run(*argv: str) -> None:
        subprocess.run(
            [*as_postgres, *argv], check=True, capture_output=True, text=True, timeout=120
        )

    try:
        run(
            str(binaries / "initdb"),
            "-D", str(data),
            "-A", "trust",
            "-U", "postgres",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr or exc.stdout}") from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
