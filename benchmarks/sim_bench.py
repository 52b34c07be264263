"""Simulator benchmark: wall time, executions per second and peak memory.

Runs the ``paper`` workload (20,000 applications, seed 1) on ``25x32c128g`` under
rigid-fifo, flexible-fifo and flexible-hrrn3d, each in its own subprocess (so the
peak resident memory is the case's own), and three reference loops over the same
trace under FIFO:

- ``heapq-floor``: a bare heapq event loop with one pool of cores, the floor any
  engine is measured against;
- ``simpy-rounds``: the same pool served by SimPy events in the engine's pattern
  (lazy arrivals, completion events, one settle per instant): what SimPy and the
  rounds of DESIGN.md section 4 cost before any policy, snapshot or service;
- ``heapq-services``: the heapq loop placing every service first-fit on the
  nodes: what per-service accounting alone costs.

Prints a table; asserts nothing.

    python benchmarks/sim_bench.py [--apps N] [--seed N] [--big]

``--big`` adds one million executions on 1,000 nodes under flexible-fifo (long:
many minutes).
"""

from __future__ import annotations

import argparse
import heapq
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import simpy
from simpy.events import NORMAL, Event, EventPriority

from zoe.core.cluster import Node
from zoe.sim.traces.base import TraceEntry

CASES = ("rigid-fifo", "flexible-fifo", "flexible-hrrn3d")
FLOORS = ("heapq-floor", "simpy-rounds", "heapq-services")
PAPER_INTERARRIVAL = 120.0
_LATE = EventPriority(2)  # after every other event of an instant, as the engine's
_Callback = Callable[[Event], None]


def _arrivals_for(nodes: list[Node]) -> dict[str, float]:
    # the paper model is sized for 25 nodes; keep its load on larger clusters
    return {"mean_interarrival": PAPER_INTERARRIVAL * 25 / len(nodes)}


def run_case(policy: str, apps: int, seed: int, cluster: str) -> dict[str, float]:
    """One simulation of a trace generated beforehand (not timed)."""
    from zoe.core.cluster import parse_cluster
    from zoe.policies.registry import make_policy
    from zoe.sim.generators import generate
    from zoe.sim.run import simulate

    nodes = parse_cluster(cluster)
    entries = list(generate("paper", seed=seed, apps=apps, **_arrivals_for(nodes)))
    started = time.perf_counter()
    result = simulate(entries, nodes, make_policy(policy))
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "executions": result.summary["counts"]["submitted"],
        "rounds": result.summary["rounds"],
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_floor(name: str, apps: int, seed: int, cluster: str) -> dict[str, float]:
    """One of the reference loops named in :data:`FLOORS`.

    The heapq loops serve the queue after each of their events, two per
    execution: those are their rounds.
    """
    from zoe.core.cluster import parse_cluster
    from zoe.sim.generators import generate

    nodes = parse_cluster(cluster)
    pool = sum(n.capacity.millicores for n in nodes)
    entries = list(generate("paper", seed=seed, apps=apps, **_arrivals_for(nodes)))
    started = time.perf_counter()
    if name == "heapq-services":
        count = bare_fifo_services(entries, nodes)
        rounds = 2 * count
    elif name == "simpy-rounds":
        count, rounds = SimpyFifo(entries, pool).run()
    else:
        count = bare_fifo(entries, pool)
        rounds = 2 * count
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "executions": count,
        "rounds": rounds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bare_fifo(entries: Iterable[TraceEntry], capacity: int) -> int:
    """Replay under FIFO on one pool of ``capacity`` millicores; count executions.

    Each execution takes all its cores at once for its duration; one that needs
    more than the pool is dropped. No per-service accounting, no snapshot: the
    least work an event loop over the same arrivals and completions can do.
    """
    events: list[tuple[float, int, int, int]] = []  # (time, kind, seq, millicores)
    queue: list[tuple[float, int]] = []
    for entry in entries:
        demand = sum(
            g.resources.cores.min * g.total_count for _, g in entry.zapp.groups()
        )
        if demand <= capacity:
            heapq.heappush(events, (entry.submit_time, 1, len(queue), demand))
            queue.append((entry.duration, demand))
    free, head, arrived, count = capacity, 0, 0, 0
    while events:
        now, kind, seq, demand = heapq.heappop(events)
        if kind == 0:
            free += demand
            count += 1
        else:
            arrived = seq + 1
        while head < arrived and queue[head][1] <= free:
            duration, need = queue[head]
            free -= need
            heapq.heappush(events, (now + duration, 0, head, need))
            head += 1
    return count


class SimpyFifo:
    """:func:`bare_fifo` driven by SimPy the way the engine is driven.

    The same pool and queue, but arrivals come from one chain of events pulling
    the trace lazily, completions are events, and the queue is served once per
    instant by a settle event scheduled after every other event of that instant:
    the event pattern of DESIGN.md section 4 with the least work per round. It
    measures what SimPy and the rounds alone cost, before any policy, snapshot or
    service.
    """

    def __init__(self, entries: Iterable[TraceEntry], capacity: int) -> None:
        self.env = simpy.Environment()
        self.source = iter(entries)
        self.capacity = self.free = capacity
        self.pending: list[tuple[float, int]] = []  # (duration, millicores)
        self.head = self.count = self.rounds = 0
        self.settling = False

    def run(self) -> tuple[int, int]:
        """Replay the entries; the executions that ended and the rounds run."""
        self._pull()
        self.env.run()
        return self.count, self.rounds

    def _schedule(
        self, delay: float, priority: EventPriority, callback: _Callback, value: object
    ) -> None:
        event = Event(self.env)
        event._ok, event._value = True, value
        event.callbacks.append(callback)
        self.env.schedule(event, priority, delay)

    def _pull(self) -> None:
        for entry in self.source:
            demand = sum(
                g.resources.cores.min * g.total_count for _, g in entry.zapp.groups()
            )
            if demand <= self.capacity:
                delay = entry.submit_time - self.env.now
                self._schedule(delay, NORMAL, self._arrive, (entry.duration, demand))
                return

    def _wake(self) -> None:
        if not self.settling:
            self.settling = True
            self._schedule(0, _LATE, self._settle, None)

    def _arrive(self, event: Event) -> None:
        self.pending.append(event.value)
        self._wake()
        self._pull()

    def _complete(self, event: Event) -> None:
        self.free += event.value
        self.count += 1
        self._wake()

    def _settle(self, _event: Event) -> None:
        self.settling = False
        self.rounds += 1
        while self.head < len(self.pending):
            duration, need = self.pending[self.head]
            if need > self.free:
                break
            self.free -= need
            self.head += 1
            self._schedule(duration, NORMAL, self._complete, need)


def bare_fifo_services(entries: Iterable[TraceEntry], nodes: list[Node]) -> int:
    """Like :func:`bare_fifo`, but every service takes its cores and memory on a
    node, the first that has room, all of an execution's services or none.

    The least work a loop does that keeps per-service accounting on nodes, as
    the engine must to apply plans: it shows how much of the engine's cost the
    services themselves account for. Executions that fit on no empty cluster
    are dropped.
    """
    free_mc = [n.capacity.millicores for n in nodes]
    free_mem = [n.capacity.memory for n in nodes]
    events: list[tuple[float, int, int]] = []  # (time, kind, seq)
    queue: list[tuple[float, list[tuple[int, int]]]] = []
    for entry in entries:
        demands = [
            (g.resources.cores.min, g.resources.memory.min)
            for _, g in entry.zapp.groups()
            for _ in range(g.total_count)
        ]
        if _first_fit_all(list(free_mc), list(free_mem), demands) is not None:
            heapq.heappush(events, (entry.submit_time, 1, len(queue)))
            queue.append((entry.duration, demands))
    held: dict[int, list[tuple[int, int, int]]] = {}
    head = arrived = count = 0
    while events:
        now, kind, seq = heapq.heappop(events)
        if kind == 0:
            for node, mc, mem in held.pop(seq):
                free_mc[node] += mc
                free_mem[node] += mem
            count += 1
        else:
            arrived = seq + 1
        while head < arrived:
            placed = _first_fit_all(free_mc, free_mem, queue[head][1])
            if placed is None:
                break
            held[head] = placed
            heapq.heappush(events, (now + queue[head][0], 0, head))
            head += 1
    return count


def _first_fit_all(
    free_mc: list[int], free_mem: list[int], demands: list[tuple[int, int]]
) -> list[tuple[int, int, int]] | None:
    placed: list[tuple[int, int, int]] = []
    for mc, mem in demands:
        for node in range(len(free_mc)):
            if free_mc[node] >= mc and free_mem[node] >= mem:
                free_mc[node] -= mc
                free_mem[node] -= mem
                placed.append((node, mc, mem))
                break
        else:
            for node, mc_back, mem_back in placed:
                free_mc[node] += mc_back
                free_mem[node] += mem_back
            return None
    return placed


def subprocess_case(name: str, apps: int, seed: int, cluster: str) -> dict[str, float]:
    """Run one case in a fresh interpreter and return its figures."""
    command = [sys.executable, __file__, "--case", name, "--apps", str(apps)]
    command += ["--seed", str(seed), "--cluster", cluster]
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Parse the options; run every case or, with --case, one case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cluster", default="25x32c128g")
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        if args.case in FLOORS:
            figures = run_floor(args.case, args.apps, args.seed, args.cluster)
        else:
            figures = run_case(args.case, args.apps, args.seed, args.cluster)
        print(json.dumps(figures))
        return

    cases = [(floor, args.apps, args.cluster) for floor in FLOORS]
    cases += [(policy, args.apps, args.cluster) for policy in CASES]
    if args.big:
        cases.append(("flexible-fifo", 1_000_000, "1000x32c128g"))
    header = f"{'case':<18}{'apps':>10}{'cluster':>14}{'wall s':>10}"
    header += f"{'exec/s':>12}{'rounds':>10}{'peak MiB':>10}"
    print(header)
    for name, apps, cluster in cases:
        f = subprocess_case(name, apps, args.seed, cluster)
        rate = f["executions"] / f["wall"] if f["wall"] else float("inf")
        print(
            f"{name:<18}{apps:>10}{cluster:>14}{f['wall']:>10.2f}"
            f"{rate:>12,.0f}{f['rounds']:>10.0f}{f['peak_mib']:>10.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
