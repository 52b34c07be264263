"""What the Docker engine backend knows of its containers, kept on the master's thread.

:class:`ContainerBook` is the bookkeeping half of
:class:`~zoe.live.backends.docker_engine.DockerEngineBackend`: the containers it
tracks, the hosts that are silent, the events and usage samples due to the
master. It applies the messages the backend's threads put on its queue (Docker
events, ends of operations, ports read after a start, pings, listings, usage
readings; see :mod:`~zoe.live.backends.docker_monitor`) and never calls a
daemon. The actions it takes are the subclass's: removing a container
(:meth:`ContainerBook._remove_container`), dropping the network of a container
removed outside Zoe (:meth:`ContainerBook._container_gone`), and asking whether
a container killed by a signal is being removed (:meth:`ContainerBook._check_kill`,
answered by a ``died`` message).

Sources of silence: the event stream's thread (``down``/``up``) and the probes
and listings (``hung``/``answers``) each say whether a host answers; a host is
unavailable while either says it does not.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoe.live.backends import (
    LABEL_EXECUTION,
    LABEL_SERVICE_NAME,
    BackendService,
    ServiceEvent,
    ServiceEventKind,
    ServiceState,
)
from zoe.live.backends.docker_common import (
    EXIT_KEY,
    REMOVED_OUTSIDE,
    DockerHost,
    drain,
    exit_code_of_status,
    exit_reason,
)
from zoe.live.backends.docker_monitor import OrphanBook, Reading, UsageBook
from zoe.live.backends.docker_ports import listed_endpoints

log = logging.getLogger(__name__)

_STATES = {"created": ServiceState.CREATED, "running": ServiceState.RUNNING}


@dataclass(slots=True)
class Tracked:
    """A container the backend knows: where it is and what it last reported.

    ``busy`` counts its operations in flight; ``changed_time`` (monotonic) is
    when it was last tracked, acted on or reported, so that a listing older than
    that is not believed about it. ``ports``: whether it publishes any (unknown,
    so True, for an adopted container); ``endpoints`` where they answer, once
    read (:mod:`~zoe.live.backends.docker_ports`), forgotten with the entry.
    """

    host: str
    labels: Mapping[str, str]
    state: ServiceState
    oom: bool = False
    busy: int = 0
    changed_time: float = field(default_factory=time.monotonic)
    ports: bool = True
    endpoints: dict[str, str] = field(default_factory=dict)


class ContainerBook:
    """Tracked containers, silent hosts and pending events (master's thread only)."""

    hosts: dict[str, DockerHost]  # set by the subclass

    def __init__(
        self,
        deployment: str,
        *,
        reconcile_duration: float,
        orphan_grace_duration: float,
        usage_duration: float,
    ) -> None:
        self.deployment = deployment
        self._clients: dict[str, Any] = {}
        self._tracked: dict[str, Tracked] = {}
        # removals under way and removals to retry, with the containers' labels
        self._removed: dict[str, Mapping[str, str]] = {}
        self._lost: dict[str, Mapping[str, str]] = {}
        self._down: dict[str, str] = {}
        self._down_sources: dict[str, set[str]] = {}
        self._listing: set[str] = set()
        self._pending: list[ServiceEvent] = []
        self._next_reconcile = time.monotonic() + reconcile_duration
        self._orphans = OrphanBook(orphan_grace_duration)
        self._usage = UsageBook(usage_duration)
        self._queue: queue.Queue[Any] = queue.Queue()

    def _remove_container(self, backend_id: str, labels: Mapping[str, str]) -> None:
        """Remove a container of an available host (the subclass acts)."""
        raise NotImplementedError

    def _container_gone(self, host: str, labels: Mapping[str, str]) -> None:
        """A container with ``labels`` left ``host`` without Zoe: drop what was
        only its (the subclass acts)."""
        raise NotImplementedError

    def _check_kill(self, backend_id: str, code: int, reason: str | None) -> None:
        """Find out whether a container killed by a signal is being removed
        outside Zoe; a ``died`` message follows (the subclass acts)."""
        raise NotImplementedError

    def _drain(self, timeout: float = 0.0) -> None:
        drain(self._queue, self._handle, timeout)

    def _handle(self, kind: str, host: str, payload: Any) -> None:
        if kind in ("down", "hung"):
            self._host_down(host, str(payload), "stream" if kind == "down" else "probe")
        elif kind in ("up", "answers"):
            self._host_up(host, "stream" if kind == "up" else "probe")
        elif kind in ("listed", "unlisted"):
            self._listing.discard(host)
            if kind == "listed":
                self._reconcile_host(host, *payload)
            else:
                log.debug("docker: no listing of %s: %s", host, payload)
        elif kind == "usage":
            self._on_usage(*payload)
        elif kind == "unsampled":
            log.debug("docker: no usage of %s: %s", *payload)
            self._usage.on_failure(payload[0])
        elif kind == "ports":
            self._on_endpoints(*payload)
        elif kind == "died":
            self._on_died(*payload)
        elif kind == "done":
            self._operation_done(payload)
        elif kind == "failed":
            self._operation_done(payload[0])
            self._operation_failed(host, *payload)
        else:
            self._on_docker_event(host, payload)

    def _on_docker_event(self, host: str, raw: Mapping[str, Any]) -> None:
        action = str(raw.get("Action") or raw.get("status") or "")
        actor = raw.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        backend_id = f"{host}/{attributes.get('name', '')}"
        if backend_id in self._removed:
            return
        tracked = self._tracked.get(backend_id)
        if tracked is None:
            return  # not ours (an orphan): reconciliation removes it
        tracked.changed_time = time.monotonic()
        if action == "start":
            self._emit(backend_id, tracked, ServiceEventKind.RUNNING)
        elif action == "oom":
            tracked.oom = True
        elif action == "die":
            code = int_or_none(attributes.get("exitCode"))
            reason = exit_reason(code, tracked.oom)
            if code is not None and code > 128 and not tracked.oom:
                # `docker rm -f` kills before it removes: is a removal under way?
                self._check_kill(backend_id, code, reason)
                return
            self._emit(backend_id, tracked, ServiceEventKind.EXITED, code, reason)
        elif action == "destroy":
            if tracked.state is not ServiceState.EXITED:
                why = REMOVED_OUTSIDE
                self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, why)
            self._tracked.pop(backend_id, None)
            self._container_gone(host, tracked.labels)

    def _on_died(self, backend_id: str, code: int, reason: str | None) -> None:
        """The answer of :meth:`_check_kill`: report the exit of a killed container."""
        tracked = self._tracked.get(backend_id)
        if tracked is None or backend_id in self._removed:
            return
        self._emit(backend_id, tracked, ServiceEventKind.EXITED, code, reason)

    def _on_endpoints(self, backend_id: str, endpoints: Mapping[str, str]) -> None:
        tracked = self._tracked.get(backend_id)
        if tracked is not None and endpoints:
            tracked.endpoints = dict(endpoints)

    def _note_endpoints(self, host: str, rows: list[Any]) -> None:
        """Take the endpoints of running containers from a listing of ``host``.

        Only for tracked containers whose endpoints are not known yet: adopted
        ones, or those whose inspection after their start failed.
        """
        address = self.hosts[host].address
        for row in rows:
            if row.get("State") != "running" or not row.get("Ports"):
                continue
            tracked = self._tracked.get(_row_id(host, row))
            if tracked is not None and not tracked.endpoints:
                tracked.endpoints = listed_endpoints(row["Ports"], address)

    def _operation_done(self, backend_id: str) -> None:
        tracked = self._tracked.get(backend_id)
        if tracked is not None and tracked.busy > 0:
            tracked.busy -= 1
            tracked.changed_time = time.monotonic()

    def _operation_failed(self, host: str, backend_id: str, reason: str) -> None:
        if backend_id in self._removed:
            # its removal failed: retried by reconcile
            self._lost[backend_id] = self._removed.pop(backend_id)
            return
        tracked = self._tracked.get(backend_id)
        if tracked is not None:
            log.warning("docker: %s cannot run: %s", backend_id, reason)
            self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)

    def _host_down(self, host: str, why: str, source: str) -> None:
        """``source`` (``stream`` or ``probe``) finds ``host`` silent."""
        self._down_sources.setdefault(host, set()).add(source)
        if host in self._down:
            return
        self._down[host] = why
        client = self._clients.pop(host, None)
        if client is not None:
            client.close()
        log.warning("docker: host %s stopped answering: %s", host, why)
        reason = f"host {host} stopped answering"
        for backend_id, tracked in list(self._tracked.items()):
            if tracked.host == host and tracked.state is not ServiceState.EXITED:
                self._emit(backend_id, tracked, ServiceEventKind.EXITED, None, reason)
                del self._tracked[backend_id]
                self._lost[backend_id] = tracked.labels

    def _host_up(self, host: str, source: str) -> None:
        """``source`` finds ``host`` answering; it is up once no source says not."""
        sources = self._down_sources.get(host, set())
        sources.discard(source)
        if not sources and self._down.pop(host, None) is not None:
            log.info("docker: host %s answers again", host)
            self._next_reconcile = 0.0

    def _reconcile_host(self, host: str, since: float, rows: list[Any]) -> None:
        """Compare a listing of ``host`` started at ``since`` with what is tracked."""
        if host in self._down:
            return
        self._note_endpoints(host, rows)
        listed = {s.backend_id: s for s in (self._service_of(host, r) for r in rows)}
        for backend_id, tracked in list(self._tracked.items()):
            if tracked.host != host or tracked.state is ServiceState.EXITED:
                continue
            if tracked.busy or tracked.changed_time > since:
                continue  # operations in flight or news: the listing predates them
            seen = listed.get(backend_id)
            if seen is None:
                kind = ServiceEventKind.EXITED
                self._emit(backend_id, tracked, kind, None, REMOVED_OUTSIDE)
                del self._tracked[backend_id]
                self._container_gone(host, tracked.labels)
            elif seen.state is ServiceState.EXITED:
                reason = seen.reason or exit_reason(seen.exit_code, tracked.oom)
                kind = ServiceEventKind.EXITED
                self._emit(backend_id, tracked, kind, seen.exit_code, reason)
            elif (seen.state, tracked.state) == (
                ServiceState.RUNNING,
                ServiceState.CREATED,
            ):
                self._emit(backend_id, tracked, ServiceEventKind.RUNNING)
        self._remove_orphans(host, listed)

    def _remove_orphans(self, host: str, listed: Mapping[str, BackendService]) -> None:
        """Remove the listed containers nobody tracks, once the grace is over."""
        known = self._tracked.keys() | self._removed.keys() | self._lost.keys()
        untracked = [b for b in listed if b not in known]
        for backend_id in self._orphans.due(host, untracked, time.monotonic()):
            labels = listed[backend_id].labels
            log.warning(
                "docker: removing container %s: it carries the label "
                "zoe.deployment=%s but no service of this master is tracked for it "
                "(labels say execution %s, service %s)",
                backend_id,
                self.deployment,
                labels.get(LABEL_EXECUTION, "?"),
                labels.get(LABEL_SERVICE_NAME, "?"),
            )
            self._remove_container(backend_id, labels)

    def _on_usage(self, backend_id: str, reading: Reading) -> None:
        tracked = self._tracked.get(backend_id)
        labels = None
        if tracked is not None and tracked.state is ServiceState.RUNNING:
            labels = tracked.labels
        self._usage.on_reading(backend_id, labels, reading)

    def _emit(
        self,
        backend_id: str,
        tracked: Tracked,
        kind: ServiceEventKind,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        if (
            kind is ServiceEventKind.RUNNING
            and tracked.state is not ServiceState.CREATED
        ):
            return
        if kind is ServiceEventKind.EXITED and tracked.state is ServiceState.EXITED:
            return
        running = kind is ServiceEventKind.RUNNING
        tracked.state = ServiceState.RUNNING if running else ServiceState.EXITED
        self._pending.append(
            ServiceEvent(backend_id, kind, dict(tracked.labels), exit_code, reason)
        )

    def _service_of(self, host: str, row: Mapping[str, Any]) -> BackendService:
        """A listed container; an exited one with its code and why it exited, as
        the live path reports them (from its inspection, see ``EXIT_KEY``)."""
        state = _STATES.get(str(row.get("State")), ServiceState.EXITED)
        backend_id = _row_id(host, row)
        code, reason = None, None
        if state is ServiceState.EXITED:
            code, reason = _exit_of(row)
        return BackendService(
            backend_id,
            split_id(backend_id)[1],
            host,
            state,
            dict(row.get("Labels") or {}),
            code,
            reason,
        )


def _exit_of(row: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """The exit code and reason of an exited container's row."""
    details = row.get(EXIT_KEY)
    if not isinstance(details, Mapping):
        code = exit_code_of_status(str(row.get("Status", "")))
        return code, exit_reason(code, False)
    code = int_or_none(details.get("ExitCode"))
    reason = exit_reason(code, bool(details.get("OOMKilled")))
    return code, reason or (str(details.get("Error") or "") or None)


def _row_id(host: str, row: Mapping[str, Any]) -> str:
    """The backend id of a container in a listing of ``host``."""
    names = row.get("Names") or [""]
    return f"{host}/{str(names[0]).lstrip('/')}"


def split_id(backend_id: str) -> tuple[str, str]:
    """``(host, container name)`` of a backend id ``host/name``."""
    host, _, container = backend_id.partition("/")
    return host, container


def int_or_none(value: object) -> int | None:
    """``value`` as an integer, None if it is not one."""
    try:
        return int(str(value))
    except ValueError:
        return None
