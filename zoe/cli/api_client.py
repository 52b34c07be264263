"""The client library of the REST API, as the ``zoe`` command uses it.

:class:`ApiClient` sends requests with a bearer token and turns error replies
into :class:`ApiRequestError`. :class:`Credentials` are what ``zoe login`` keeps
in the user's configuration folder (``$XDG_CONFIG_HOME/zoe/credentials.json``,
by default ``~/.config/zoe``), readable by the user only.

:class:`RestExecutions` offers the calls of :class:`~zoe.live.client.MasterClient`
that the client commands use, with the same result shapes, so that a command
works the same way over either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from zoe.core.errors import InvalidInput, ZoeError

DEFAULT_URL = "http://127.0.0.1:8080"
CREDENTIALS_FILE = "credentials.json"


class ApiRequestError(ZoeError):
    """An error reply of the API: HTTP ``status``, error ``type`` and message."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        self.status = status
        self.type = type_
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where the API is, who logged in, their token and when it expires."""

    url: str
    user: str
    token: str
    expires_time: str


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's configuration folder for Zoe (``$XDG_CONFIG_HOME/zoe``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zoe"


def save_credentials(credentials: Credentials, folder: Path) -> Path:
    """Write ``credentials`` for the user only (mode 0600); return the file."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(credentials), out)
    path.chmod(0o600)
    return path


def load_credentials(folder: Path) -> Credentials | None:
    """The saved credentials, or ``None`` if there are none."""
    path = folder / CREDENTIALS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(**document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{path}: unreadable credentials ({exc}); run `zoe login` again"
        ) from None


class ApiClient:
    """Calls of the REST API at ``url`` with an optional bearer ``token``."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout
        )

    def request(self, method: str, path: str, **options: Any) -> Any:
        """The decoded JSON of a successful reply; raise on an error reply."""
        try:
            reply = self._http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise ApiRequestError(
                0,
                "Unreachable",
                f"the API at {self.url} cannot be reached ({exc}); check the "
                "address and that `zoe api` or `zoe up` runs",
            ) from None
        if reply.is_success:
            return reply.json() if reply.content else None
        raise _error_of(reply)

    def stream_text(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[str]:
        """The text of a streamed reply, chunk by chunk, as it comes; raise on an
        error reply. Waits for data without a time limit; close the iterator to
        stop early."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream(
                "GET", path, params=params, timeout=timeout
            ) as reply:
                if not reply.is_success:
                    reply.read()
                    raise _error_of(reply)
                yield from reply.iter_text()
        except httpx.HTTPError as exc:
            raise ApiRequestError(
                0, "Unreachable", f"the stream from the API at {self.url} broke ({exc})"
            ) from None

    def login(self, user: str, password: str) -> dict[str, Any]:
        """A new token: ``{"token", "user", "role", "expires_time", "name"}``."""
        body = {"user": user, "password": password, "name": "cli"}
        result: dict[str, Any] = self.request("POST", "/tokens", json=body)
        return result

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_LOCATIONS = ("body", "query", "path", "header", "cookie")
"""Where FastAPI says a request fault is: the first part of its path, not shown."""


def _error_of(reply: httpx.Response) -> ApiRequestError:
    """The error of an error reply, its message a sentence for the command line."""
    try:
        error = reply.json()["error"]
        type_, message = str(error["type"]), str(error["message"])
        faults = (error.get("details") or {}).get("faults") or []
        if type_ == "Invalid" and faults:
            message = "; ".join(_fault_sentence(f) for f in faults)
    except (ValueError, KeyError, TypeError, AttributeError):
        type_, message = "Error", reply.reason_phrase  # not an error of the API
    if message != reply.reason_phrase:
        return ApiRequestError(reply.status_code, type_, message)
    request = reply.request
    where = f"{request.url.scheme}://{request.url.netloc.decode()}"
    status = f"HTTP {reply.status_code} {reply.reason_phrase}"
    if reply.status_code in (404, 405):  # a bare "Not Found": no such operation
        message = (
            f"the API at {where} has no {request.method} {request.url.path} "
            f"({status}); check the address given to `zoe login --url`"
        )
    else:
        message = f"{status} from the API at {where}"
    return ApiRequestError(reply.status_code, type_, message)


def _fault_sentence(fault: Mapping[str, Any]) -> str:
    """``name: field required`` for the fault ``body.name: Field required``."""
    path = str(fault.get("path", ""))
    head, _, rest = path.partition(".")
    if head in _LOCATIONS:
        path = rest
    message = str(fault.get("message", "invalid"))
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


class RestExecutions:
    """The client commands' calls, over the REST API (shapes of the protocol)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def submit(self, name: str, zapp: Mapping[str, Any], user: str) -> dict[str, Any]:
        """Submit; ``{"execution_id", "master"}`` (``user`` is the token's)."""
        body = {"name": name, "zapp": dict(zapp)}
        result = self.client.request("POST", "/executions", json=body)
        return {"execution_id": result["id"], "master": result["master"]}

    def get(self, execution_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.client.request(
            "GET", f"/executions/{execution_id}"
        )
        return result

    def list_executions(
        self, *, status: Iterable[str] | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"status": list(status or [])}
        if limit is not None:
            params["limit"] = limit
        result: dict[str, Any] = self.client.request(
            "GET", "/executions", params=params
        )
        return result

    def terminate(self, execution_id: int) -> dict[str, Any]:
        result = self.client.request("POST", f"/executions/{execution_id}/terminate")
        return {"execution_id": result["id"], "status": result["status"]}

    def delete(self, execution_id: int) -> dict[str, Any]:
        self.client.request("DELETE", f"/executions/{execution_id}")
        return {"execution_id": execution_id, "deleted": True}

    def logs(
        self, execution_id: int, *, service: str | None = None, tail: int | None = None
    ) -> dict[str, Any]:
        params = {"service": service, "tail": tail}
        result: dict[str, Any] = self.client.request(
            "GET",
            f"/executions/{execution_id}/logs",
            params={k: v for k, v in params.items() if v is not None},
        )
        return result

    def follow_service(
        self, service_id: int, *, tail: int | None = None, follow: bool = True
    ) -> Iterator[str]:
        """A service's output as it is written, until the service has ended."""
        params: dict[str, Any] = {"follow": "true" if follow else "false"}
        if tail is not None:
            params["tail"] = tail
        return self.client.stream_text(f"/services/{service_id}/logs", params)

    def cluster(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.request("GET", "/cluster")
        return result

    def scheduler(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.request("GET", "/scheduler")
        return result
