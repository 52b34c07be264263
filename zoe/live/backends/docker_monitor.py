"""The Docker engine backend's monitoring threads: probes, listings, usage samples.

Nothing here touches the backend's bookkeeping and nothing here runs on the
master's thread: every result is a message ``(kind, host, payload)`` put on the
backend's queue, which the master's thread drains::

    Prober (a thread per host)    ("answers", host, None) after each ping answered,
                                  ("hung", host, why) once PROBE_FAILURES pings in
                                  a row went unanswered within the timeout
    Monitor.list_host(host, t)    ("listed", host, (t, rows)) or
                                  ("unlisted", host, why)
    Monitor.sample(host, id)      ("usage", host, (id, Reading)) or
                                  ("unsampled", host, (id, why))

A daemon stopped with SIGSTOP still accepts connections (the kernel queues
them) but never answers: only a call with a timeout notices it, which is why
hosts are pinged apart from their event streams. Listings run on one thread per
host at most, so a hung host holds up only its own; samples run on a bounded
pool. Each job opens its own client and closes it, so a thread abandoned to a
hung daemon leaks nothing.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors

from zoe.live.backends import LABEL_EXECUTION, UsageSample
from zoe.live.backends.docker_common import (
    EXIT_KEY,
    UNREACHABLE,
    DockerHost,
    connect,
    drop_unused_networks,
    label_filters,
    ping_failure,
)

log = logging.getLogger(__name__)

PROBE_FAILURES = 2
_RFC3339 = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One stats reading of a container.

    ``cpu_ns`` is the CPU time it used since it started (all cores), ``memory``
    the bytes it uses (without the inactive page cache, as ``docker stats``),
    ``read_time`` the daemon's UNIX time of the reading, and ``cores`` the CPU
    rate over the daemon's previous reading when the daemon gave one (a stats
    call that is not one-shot), else None.
    """

    cpu_ns: int
    memory: int
    read_time: float
    cores: float | None = None


def parse_time(text: object) -> float | None:
    """The UNIX time of Docker's RFC 3339 nano timestamp; None if unset or bad.

    Docker writes an unset time as year 1 (``0001-01-01T00:00:00Z``).
    """
    match = _RFC3339.match(str(text or ""))
    if match is None:
        return None
    offset = "+00:00" if match[3] == "Z" else match[3]
    try:
        whole = datetime.fromisoformat(match[1] + offset).timestamp()
    except ValueError:
        return None
    if whole < 0:
        return None
    fraction = (match[2] or "0")[:9].ljust(9, "0")
    return whole + int(fraction) / 1e9


def reading_of(stats: Mapping[str, Any], fallback_time: float) -> Reading:
    """Read the reply of a stats call (``fallback_time`` if it has no time)."""
    cpu = _cpu_ns(stats.get("cpu_stats"))
    memory_stats = stats.get("memory_stats") or {}
    usage = int(memory_stats.get("usage") or 0)
    details = memory_stats.get("stats") or {}
    # cgroup v1 names it total_inactive_file, v2 inactive_file
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
    memory = usage - int(inactive) if int(inactive or 0) < usage else usage
    read_time = parse_time(stats.get("read")) or fallback_time
    before = _cpu_ns(stats.get("precpu_stats"))
    before_time = parse_time(stats.get("preread"))
    cores = None
    if before > 0 and before_time is not None:
        cores = _rate(cpu - before, read_time - before_time)
    return Reading(cpu, memory, read_time, cores)


def cores_between(before: Reading | None, after: Reading) -> float | None:
    """The CPU rate in cores: the daemon's own, else over two readings; None."""
    if after.cores is not None:
        return after.cores
    if before is None:
        return None
    return _rate(after.cpu_ns - before.cpu_ns, after.read_time - before.read_time)


def _cpu_ns(section: object) -> int:
    if not isinstance(section, Mapping):
        return 0
    return int((section.get("cpu_usage") or {}).get("total_usage") or 0)


def _rate(cpu_ns: int, seconds: float) -> float | None:
    """Cores used; None over no time or for a counter that went back (a restart)."""
    if seconds <= 0 or cpu_ns < 0:
        return None
    return cpu_ns / 1e9 / seconds


class _Clients:
    """Short-lived clients of the hosts, with each host's API version remembered.

    ``auto`` asks the daemon its version once; later clients skip that call, so
    a ping of a hung daemon costs one call, not two.
    """

    def __init__(
        self, hosts: Mapping[str, DockerHost], timeout: float, api_version: str
    ) -> None:
        self.hosts, self.timeout, self.api_version = hosts, timeout, api_version
        self._versions: dict[str, str] = {}

    def open(self, host: str) -> docker.APIClient:
        """A new client of ``host`` (close it); raises one of ``UNREACHABLE``."""
        version = self._versions.get(host, self.api_version)
        try:
            client = connect(self.hosts[host].address, self.timeout, version)
        except UNREACHABLE:
            self._versions.pop(host, None)
            raise
        self._versions[host] = str(client.api_version)
        return client


class Prober(threading.Thread):
    """Pings one host every ``interval`` seconds and reports whether it answers."""

    def __init__(
        self, host: str, clients: _Clients, out: queue.Queue[Any], interval: float
    ) -> None:
        super().__init__(name=f"zoe-docker-probe-{host}", daemon=True)
        self.host, self.clients, self.out = host, clients, out
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self.stopping.wait(self.interval):
            why = self._ping()
            if why is None:
                failures = 0
                self.out.put(("answers", self.host, None))
                continue
            failures += 1
            if failures >= PROBE_FAILURES:
                self.out.put(("hung", self.host, why))

    def _ping(self) -> str | None:
        """None if the daemon answered a ping within the timeout, else why not."""
        try:
            why = ping_failure(lambda: self.clients.open(self.host))
        except Exception as exc:  # the thread must outlive any one failure
            log.error(
                "docker: ping of host %s failed: %r", self.host, exc, exc_info=True
            )
            why = repr(exc)
        if why is None:
            return None
        return f"ping failed (timeout {self.clients.timeout:g}s): {why}"

    def stop(self) -> None:
        """Stop after the ping under way (at most the timeout)."""
        self.stopping.set()


class Monitor:
    """Lists hosts and samples containers on threads; results go to ``out``."""

    def __init__(
        self,
        hosts: Mapping[str, DockerHost],
        deployment: str,
        out: queue.Queue[Any],
        *,
        timeout: float,
        api_version: str,
        usage_workers: int,
    ) -> None:
        self.deployment, self.out = deployment, out
        self.clients = _Clients(hosts, timeout, api_version)
        self._lister = ThreadPoolExecutor(
            max_workers=max(1, len(hosts)), thread_name_prefix="zoe-docker-list"
        )
        self._sampler = ThreadPoolExecutor(
            max_workers=max(1, usage_workers), thread_name_prefix="zoe-docker-usage"
        )

    def prober(self, host: str, interval: float) -> Prober:
        """A (not yet started) prober of ``host`` reporting to ``out``."""
        return Prober(host, self.clients, self.out, interval)

    def list_host(self, host: str, since: float) -> None:
        """List the deployment's containers of ``host``; ``since`` is passed back.

        The caller keeps at most one listing per host in flight.
        """
        self._lister.submit(self._list, host, since)

    def list_now(
        self, hosts: Iterable[str], keep: Mapping[str, set[str]] | None = None
    ) -> dict[str, list[Any] | str]:
        """The rows of each host, or why not, waiting at most the timeout in all.

        Each host is listed on its own new thread, so that a hung host costs the
        timeout once and holds up nothing else; a host still silent at the end
        is answered ``"no answer within ...s"``. With ``keep`` (host -> execution
        ids whose containers are being made there), each listed host's networks
        of this deployment's executions that neither have a container listed
        nor are kept are removed (:func:`drop_unused_networks`).
        """
        results: dict[str, list[Any] | str] = {}
        threads = []
        for host in hosts:
            kept = None if keep is None else keep.get(host, set())
            thread = threading.Thread(
                target=self._list_into,
                args=(host, results, kept),
                name=f"zoe-docker-list-{host}",
                daemon=True,
            )
            thread.start()
            threads.append((host, thread))
        deadline = self.clients.timeout + 0.5
        start = time.monotonic()
        for _, thread in threads:
            thread.join(max(0.0, deadline - (time.monotonic() - start)))
        silent = f"no answer within {self.clients.timeout:g}s"
        return {host: results.get(host, silent) for host, _ in threads}

    def sample(self, host: str, backend_id: str, container: str = "") -> None:
        """Read the usage of container ``backend_id`` (``host/name``) on the pool.

        ``container``: the container's name or id on ``host``, when it is not the
        name in ``backend_id`` (a Swarm task's container).
        """
        self._sampler.submit(self._sample, host, backend_id, container)

    def close(self) -> None:
        """Drop the jobs not started; running ones end within the timeout."""
        self._lister.shutdown(wait=False, cancel_futures=True)
        self._sampler.shutdown(wait=False, cancel_futures=True)

    def _rows(self, host: str) -> list[Any]:
        """The deployment's containers of ``host``; an exited one's row carries
        its inspection's exit code, OOM flag and error under ``EXIT_KEY``."""
        client = self.clients.open(host)
        try:
            rows: list[Any] = client.containers(
                all=True, filters=label_filters(self.deployment)
            )
            for row in rows:
                if row.get("State") in ("exited", "dead"):
                    _add_exit(client, row)
        finally:
            client.close()
        return rows

    def _list(self, host: str, since: float) -> None:
        rows = self._rows_or_why(host)
        if isinstance(rows, str):
            self.out.put(("unlisted", host, rows))
            return
        self.out.put(("listed", host, (since, rows)))

    def _list_into(
        self, host: str, results: dict[str, list[Any] | str], keep: set[str] | None
    ) -> None:
        rows = self._rows_or_why(host)
        if keep is not None and not isinstance(rows, str):
            listed = {str((r.get("Labels") or {}).get(LABEL_EXECUTION)) for r in rows}
            try:
                client = self.clients.open(host)
                try:
                    drop_unused_networks(client, host, self.deployment, keep | listed)
                finally:
                    client.close()
            except UNREACHABLE as exc:
                log.warning("docker: networks of host %s not tidied: %s", host, exc)
        results[host] = rows

    def _rows_or_why(self, host: str) -> list[Any] | str:
        """The rows of ``host``, or why there are none (never raises)."""
        try:
            return self._rows(host)
        except UNREACHABLE as exc:
            return f"host {host}: {exc}"
        except Exception as exc:  # the pool's thread must outlive any one failure
            log.error("docker: listing host %s failed: %r", host, exc, exc_info=True)
            return f"host {host}: listing failed: {exc!r}"

    def _sample(self, host: str, backend_id: str, container: str) -> None:
        container = container or backend_id.partition("/")[2]
        try:
            client = self.clients.open(host)
            try:
                one_shot = _supports_one_shot(str(client.api_version))
                stats = client.stats(
                    container, stream=False, one_shot=True if one_shot else None
                )
            finally:
                client.close()
        except UNREACHABLE as exc:
            self.out.put(("unsampled", host, (backend_id, str(exc))))
            return
        except Exception as exc:  # the pool's thread must outlive any one failure
            log.error(
                "docker: usage sample of %s failed: %r", backend_id, exc, exc_info=True
            )
            self.out.put(("unsampled", host, (backend_id, repr(exc))))
            return
        self.out.put(("usage", host, (backend_id, reading_of(stats, time.time()))))


def _add_exit(client: docker.APIClient, row: dict[str, Any]) -> None:
    """Put the exit details of the container of ``row`` under ``EXIT_KEY``."""
    try:
        state = client.inspect_container(row["Id"]).get("State") or {}
    except docker.errors.NotFound:
        return  # removed since the listing: its Status is all there is
    row[EXIT_KEY] = {key: state.get(key) for key in ("ExitCode", "OOMKilled", "Error")}


def _supports_one_shot(version: str) -> bool:
    """One-shot stats (no wait for a second reading) came with API 1.41."""
    parts = tuple(int(p) for p in version.split(".") if p.isdigit())
    return parts >= (1, 41)


class UsageBook:
    """The master's side of sampling: when a pass is due, rates, latest samples.

    A pass samples every running container once; the next pass starts once
    every reading of the last one came back and ``duration`` seconds passed
    since it started (``duration`` 0: never). Used on the master's thread only.
    """

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.in_flight = 0
        self.next_time = time.monotonic() + duration
        self._readings: dict[str, Reading] = {}
        self._latest: dict[str, UsageSample] = {}

    def due(self, now: float) -> bool:
        """True when a new pass should start at ``now``."""
        return self.duration > 0 and self.in_flight == 0 and now >= self.next_time

    def started(self, count: int, now: float) -> None:
        """A pass of ``count`` samples started at ``now``."""
        self.in_flight = count
        self.next_time = now + self.duration

    def on_reading(
        self, backend_id: str, labels: Mapping[str, str] | None, reading: Reading
    ) -> None:
        """A reading came back; ``labels`` None: the container is no longer ours."""
        self.in_flight = max(0, self.in_flight - 1)
        if labels is None:
            self._readings.pop(backend_id, None)
            return
        before = self._readings.get(backend_id)
        self._readings[backend_id] = reading
        cores = cores_between(before, reading)
        self._latest[backend_id] = UsageSample(
            backend_id, dict(labels), cores, reading.memory, reading.read_time
        )

    def on_failure(self, backend_id: str) -> None:
        """A reading failed (the container went, or its host did not answer)."""
        self.in_flight = max(0, self.in_flight - 1)
        self._readings.pop(backend_id, None)

    def take(self) -> list[UsageSample]:
        """The latest sample of each container since the last call."""
        samples = list(self._latest.values())
        self._latest.clear()
        return samples


class OrphanBook:
    """Containers of the deployment that nobody tracks, and since when.

    A container is due for removal once every listing of its host over at least
    ``grace`` seconds showed it untracked (0: at its first listing).
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._first_seen: dict[str, float] = {}

    def due(self, host: str, untracked: Iterable[str], now: float) -> list[str]:
        """Of the backend ids listed untracked on ``host`` at ``now``, those due."""
        listed = set(untracked)
        prefix = f"{host}/"
        for backend_id in list(self._first_seen):
            if backend_id.startswith(prefix) and backend_id not in listed:
                del self._first_seen[backend_id]
        due = []
        for backend_id in sorted(listed):
            first = self._first_seen.setdefault(backend_id, now)
            if now - first >= self.grace:
                due.append(backend_id)
                del self._first_seen[backend_id]
        return due
