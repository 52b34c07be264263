"""``zoe login``, ``zoe logout``, ``zoe admin ...`` and ``zoe api``.

``login`` asks the REST API for a token and keeps it in the user's configuration
folder (see :mod:`zoe.cli.api_client`); the client commands (``zoe exec``,
``zoe stats``) then use it. ``admin create-user`` writes to the database
directly, so that the first administrator can be made before anyone can log in.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoe.cli.live import (
    FAILED_EXIT,
    INVALID_EXIT,
    ConfigOption,
    DatabaseOption,
    DeploymentOption,
    LogLevelOption,
    _fail,
    _load,
    _setup_logging,
)

if TYPE_CHECKING:
    from zoe.live.config import MasterConfig

admin_app = typer.Typer(no_args_is_help=True, help="Manage users (administrators).")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ZOE_API_URL",
        help="The API (default: saved, else http://127.0.0.1:8080).",
    ),
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin.")
]
ApiListenOption = Annotated[
    str | None, typer.Option("--listen", help="HOST:PORT (default: 127.0.0.1:8080).")
]


def _password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != password:
        raise _fail("the two passwords differ", INVALID_EXIT)
    return password


def login(
    user: Annotated[
        str | None, typer.Option(help="Your user name (default: login name).")
    ] = None,
    url: UrlOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Log in to the REST API; keep the token in your configuration folder."""
    from zoe.cli.api_client import (
        DEFAULT_URL,
        ApiClient,
        ApiRequestError,
        Credentials,
        config_dir,
        load_credentials,
        save_credentials,
    )

    folder = config_dir()
    saved = load_credentials(folder)
    address = url or (saved.url if saved else DEFAULT_URL)
    name = user or getpass.getuser()
    password = _password(password_stdin, confirm=False)
    try:
        with ApiClient(address) as client:
            reply = client.login(name, password)
    except ApiRequestError as exc:
        raise _fail(exc.message, FAILED_EXIT) from None
    credentials = Credentials(
        address, reply["user"], reply["token"], reply["expires_time"]
    )
    path = save_credentials(credentials, folder)
    typer.echo(
        f"logged in to {address} as {reply['user']} ({reply['role']}); "
        f"token in {path}, valid until {reply['expires_time']}"
    )


def logout() -> None:
    """Revoke your token and forget it."""
    from zoe.cli.api_client import (
        CREDENTIALS_FILE,
        ApiClient,
        ApiRequestError,
        config_dir,
        load_credentials,
    )

    folder = config_dir()
    saved = load_credentials(folder)
    if saved is None:
        typer.echo("not logged in")
        return
    try:
        with ApiClient(saved.url, saved.token) as client:
            client.request("DELETE", "/tokens/current")
    except ApiRequestError as exc:
        if exc.status != 401:  # an expired token is forgotten all the same
            raise _fail(exc.message, FAILED_EXIT) from None
    (folder / CREDENTIALS_FILE).unlink()
    typer.echo("logged out")


def _database_config(
    config_file: Path | None, flags: dict[str, str | None]
) -> tuple[MasterConfig, str]:
    """The configuration and the database address; exit 2 without one."""
    config = _load(config_file, flags)
    if not config.database_url:
        raise _fail(
            "no database address: give --database-url or ZOE_DATABASE_URL (with "
            "`zoe up` and no address, the first administrator's password is "
            "printed at start)",
            INVALID_EXIT,
        )
    return config, config.database_url


@admin_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    role: Annotated[str, typer.Option(help="admin, user or guest.")] = "user",
    password_stdin: PasswordStdinOption = False,
    config_file: ConfigOption = None,
    database_url: DatabaseOption = None,
    deployment: DeploymentOption = None,
) -> None:
    """Create a user with a password, in the database directly."""
    from zoe.api.security import MIN_PASSWORD_LENGTH, hash_password
    from zoe.core.errors import InvalidInput
    from zoe.live.db import Database, Repository, Role
    from zoe.live.db.accounts import create_user as create
    from zoe.live.db.submissions import USER_NAME_PATTERN

    if role not in {r.value for r in Role}:
        raise _fail(f"--role {role!r}: use admin, user or guest", INVALID_EXIT)
    if not re.fullmatch(USER_NAME_PATTERN, name):
        raise _fail(
            f"user name {name!r}: use letters, digits and _.@- "
            "(at most 64, starting with a letter or digit)",
            INVALID_EXIT,
        )
    flags = {"database_url": database_url, "deployment": deployment}
    config, dsn = _database_config(config_file, flags)
    password = _password(password_stdin, confirm=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _fail(
            f"the password must have {MIN_PASSWORD_LENGTH} characters or more",
            INVALID_EXIT,
        )
    digest = hash_password(password)
    with Database(dsn, config.deployment) as db:
        repo = Repository(db)
        repo.migrate()
        try:
            repo.transaction(lambda tx: create(tx, name, Role(role), digest))
        except InvalidInput as exc:
            raise _fail(str(exc), INVALID_EXIT) from None
    typer.echo(f"user {name} created ({role})")


def api(
    config_file: ConfigOption = None,
    database_url: DatabaseOption = None,
    deployment: DeploymentOption = None,
    master_address: Annotated[
        str | None,
        typer.Option("--master", help="The master's address (default: its --listen)."),
    ] = None,
    listen: ApiListenOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Serve the REST API (loopback only unless --listen says otherwise)."""
    from zoe.api.config import DEFAULT_LISTEN, ApiConfig
    from zoe.api.server import parse_listen, serve
    from zoe.core.errors import InvalidInput

    flags = {
        "database_url": database_url,
        "deployment": deployment,
        "log_level": log_level,
    }
    config, dsn = _database_config(config_file, flags)
    address = listen or os.environ.get("ZOE_API_LISTEN") or DEFAULT_LISTEN
    try:
        parse_listen(address)
    except InvalidInput as exc:
        raise _fail(str(exc), INVALID_EXIT) from None
    _setup_logging(config.log_level)
    settings = ApiConfig.of(config, dsn, master_address or config.listen)
    serve(settings, address, config.log_level)


def _admin_call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the API with the saved token; errors become one line and a status."""
    from zoe.cli.api_client import ApiClient, ApiRequestError, config_dir
    from zoe.cli.api_client import load_credentials as load

    saved = load(config_dir())
    if saved is None:
        raise _fail("not logged in: run `zoe login` as an administrator", FAILED_EXIT)
    try:
        with ApiClient(saved.url, saved.token) as client:
            return client.request(method, path, json=body)
    except ApiRequestError as exc:
        status = INVALID_EXIT if exc.status == 422 else FAILED_EXIT
        raise _fail(exc.message, status) from None


def _user_line(user: dict[str, Any]) -> str:
    def limit(value: Any, show: Callable[[Any], str] = str) -> str:
        return "-" if value is None else show(value)

    from zoe.core.resources import format_memory

    return (
        f"{user['name']:<16} {user['role']:<6} {limit(user['max_executions']):>10} "
        f"{limit(user['max_cores']):>8} {limit(user['max_memory'], format_memory):>10}"
    )


@admin_app.command("users")
def users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the users with their role and quotas (through the API)."""
    found = _admin_call("GET", "/users")
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    typer.echo(
        f"{'USER':<16} {'ROLE':<6} {'EXECUTIONS':>10} {'CORES':>8} {'MEMORY':>10}"
    )
    for user in found:
        typer.echo(_user_line(user))


@admin_app.command("set")
def set_user(
    name: Annotated[str, typer.Argument(help="The user to change.")],
    role: Annotated[str | None, typer.Option(help="admin, user or guest.")] = None,
    executions: Annotated[
        int | None, typer.Option(help="Quota: executions not yet ended.")
    ] = None,
    cores: Annotated[float | None, typer.Option(help="Quota: cores held.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="Quota: memory held, such as 64GiB.")
    ] = None,
    no_quotas: Annotated[
        bool, typer.Option("--no-quotas", help="Remove every quota.")
    ] = False,
) -> None:
    """Change a user's role or quotas (through the API); quotas are set together."""
    from zoe.core.resources import parse_memory

    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = role
    if no_quotas or any(v is not None for v in (executions, cores, memory)):
        try:
            max_memory = None if memory is None else parse_memory(memory)
        except ValueError as exc:
            raise _fail(f"--memory: {exc}", INVALID_EXIT) from None
        body["quotas"] = {
            "max_executions": executions,
            "max_cores": cores,
            "max_memory": max_memory,
        }
    if not body:
        raise _fail("nothing to change: give --role or quotas", INVALID_EXIT)
    typer.echo(_user_line(_admin_call("PATCH", f"/users/{name}", body)))


@admin_app.command("revoke-tokens")
def revoke_tokens(
    name: Annotated[str, typer.Argument(help="The user whose tokens to revoke.")],
) -> None:
    """Revoke every token of a user, web sessions included (through the API)."""
    from urllib.parse import quote

    result = _admin_call("DELETE", f"/users/{quote(name, safe='')}/tokens")
    count = int(result["revoked"])
    typer.echo(
        f"user {result['user']}: {count} token{'' if count == 1 else 's'} revoked"
    )
