"""Time one scheduling round (``policy.plan(snapshot)``) on large snapshots.

Prints two tables of the median wall-clock time of one round, in milliseconds:

- a *busy* cluster: about 90 % of the cores are held by running executions,
  most of them with elastic services (some still missing, so they are in the
  queue too), and a waiting queue of new executions;
- an *empty* cluster with the same waiting queue: the worst case of
  ``flexible``, which keeps placing (and re-placing elastic services) until the
  cluster is full.

Executions are shaped like the paper workload (DESIGN.md section 5): a
one-service master group and a worker group of 0-3 essential and 0-30 elastic
services, each of 1-4 cores and 2-16 GiB; 20 % are rigid (every service
essential). Everything is drawn from one seeded generator.

Run: ``.venv/bin/python benchmarks/policy_round.py [--seed N] [--reps N]
[--nodes 25,250,1000] [--queues 100,1000,10000]``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import time
from collections.abc import Sequence
from random import Random

from zoe.core.cluster import Node
from zoe.core.resources import Resources
from zoe.core.snapshot import ExecutionView, GroupDemand, NodeView, Placement, Snapshot
from zoe.policies.registry import make_policy

GIB = 1024**3
NODE_MILLICORES = 32_000
NODE_MEMORY = 128 * GIB
BUSY_FRACTION = 0.9
POLICIES = ("flexible-fifo", "flexible-hrrn3d")
PLACEMENTS = ("first-fit", "spread")


def paper_groups(rng: Random) -> tuple[GroupDemand, ...]:
    """The service groups of one paper-like execution."""
    master = GroupDemand(
        rng.randint(1, 4) * 1000, rng.randint(2, 16) * GIB, frozenset(), 1, 1
    )
    essential_workers = rng.randint(0, 3)
    elastic = rng.randint(0, 30)
    total = essential_workers + elastic
    rigid = rng.random() < 0.2
    if total == 0:
        return (master,)
    workers = GroupDemand(
        rng.randint(1, 4) * 1000,
        rng.randint(2, 16) * GIB,
        frozenset(),
        total if rigid else essential_workers,
        total,
    )
    return (master, workers)


class _Filler:
    """Places running executions on free capacity (random node, few retries)."""

    def __init__(self, count: int, rng: Random) -> None:
        self.free_mc = [NODE_MILLICORES] * count
        self.free_mem = [NODE_MEMORY] * count
        self.counts = [0] * count
        self.rng = rng

    def place(self, d: GroupDemand) -> int:
        """A node with room for ``d`` (taken), or -1."""
        for _ in range(8):
            n = self.rng.randrange(len(self.free_mc))
            if self.free_mc[n] >= d.millicores and self.free_mem[n] >= d.memory:
                self.free_mc[n] -= d.millicores
                self.free_mem[n] -= d.memory
                self.counts[n] += 1
                return n
        return -1

    def unplace(self, n: int, d: GroupDemand) -> None:
        """Give back what :meth:`place` took."""
        self.free_mc[n] += d.millicores
        self.free_mem[n] += d.memory
        self.counts[n] -= 1


def _running(
    eid: str,
    seq: int,
    groups: tuple[GroupDemand, ...],
    filler: _Filler,
    names: list[str],
) -> ExecutionView | None:
    """Place all essentials (or give up) and a random share of the elastics."""
    essential = [(g, i) for g, d in enumerate(groups) for i in range(d.essential_count)]
    share = filler.rng.random()
    elastic = [
        (g, i)
        for g, d in enumerate(groups)
        for i in range(d.essential_count, d.total_count)
        if filler.rng.random() < share
    ]
    placed: list[tuple[int, int, int]] = []
    for g, i in essential + elastic:
        n = filler.place(groups[g])
        if n < 0:
            if len(placed) < len(essential):
                for pg, _, pn in placed:
                    filler.unplace(pn, groups[pg])
                return None
            continue
        placed.append((g, i, n))
    placements = tuple(Placement(eid, g, i, names[n]) for g, i, n in placed)
    duration = filler.rng.uniform(600, 7200)
    return ExecutionView(
        eid,
        seq,
        float(seq),
        groups,
        placements,
        essential_running=True,
        size=duration,
        duration=duration,
        remaining=duration * filler.rng.random(),
    )


def build_snapshot(nodes: int, queue: int, busy: bool, seed: int) -> Snapshot:
    """A snapshot of ``nodes`` nodes and ``queue`` waiting executions."""
    rng = Random(seed)
    names = [f"node-{i}" for i in range(nodes)]
    filler = _Filler(nodes, rng)
    views: list[ExecutionView] = []
    target = BUSY_FRACTION * NODE_MILLICORES * nodes if busy else 0
    failures = 0
    while NODE_MILLICORES * nodes - sum(filler.free_mc) < target and failures < 50:
        view = _running(f"r{len(views)}", len(views), paper_groups(rng), filler, names)
        if view is None:
            failures += 1
        else:
            views.append(view)
    start = len(views)
    for k in range(queue):
        duration = rng.uniform(60, 7200)
        views.append(
            ExecutionView(
                f"q{k}",
                start + k,
                float(start + k),
                paper_groups(rng),
                size=duration,
                duration=duration,
            )
        )
    capacity = Resources(NODE_MILLICORES, NODE_MEMORY)
    node_views = tuple(
        NodeView(Node(name, capacity), filler.free_mc[i], filler.free_mem[i], c)
        for i, (name, c) in enumerate(zip(names, filler.counts, strict=True))
    )
    return Snapshot(float(start + queue), node_views, tuple(views))


class _OverBudget(Exception):
    """Raised by the alarm when one round runs past the budget."""


def _alarm(signum: int, frame: object) -> None:
    raise _OverBudget


def time_round(
    policy: str, placement: str, snapshot: Snapshot, reps: int, budget: float
) -> float | None:
    """Median milliseconds of one round over up to ``reps`` runs, fresh policy each.

    A run over one second is not repeated; one over ``budget`` seconds is
    stopped, and the answer is None.
    """
    times: list[float] = []
    signal.signal(signal.SIGALRM, _alarm)
    for _ in range(reps):
        subject = make_policy(policy, placement)
        signal.setitimer(signal.ITIMER_REAL, budget)
        began = time.perf_counter()
        try:
            subject.plan(snapshot)
        except _OverBudget:
            return None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        times.append((time.perf_counter() - began) * 1000)
        if times[-1] > 1000:
            break
    return statistics.median(times)


def table(
    title: str,
    busy: bool,
    nodes: Sequence[int],
    queues: Sequence[int],
    options: argparse.Namespace,
) -> None:
    """Print one table: rows of (nodes, queue), a column per policy/placement.

    A combination that ran over the budget on a smaller state is not run again
    on a larger one (more nodes or a longer queue): its cell shows ``>budget``.
    """
    combos = [(p, pl) for p in POLICIES for pl in PLACEMENTS]
    over: dict[tuple[str, str], list[tuple[int, int]]] = {c: [] for c in combos}
    heads = [f"{p}/{pl}" for p, pl in combos]
    print(f"\n{title}")
    print(
        f"{'nodes':>6} {'queue':>6} {'held':>5} " + " ".join(f"{h:>26}" for h in heads)
    )
    for n in nodes:
        for q in queues:
            snap = build_snapshot(n, q, busy, options.seed)
            free = sum(v.free_millicores for v in snap.nodes)
            held = 1 - free / (NODE_MILLICORES * n)
            cells = []
            for combo in combos:
                ms = None
                if not any(n >= on and q >= oq for on, oq in over[combo]):
                    ms = time_round(*combo, snap, options.reps, options.budget)
                if ms is None:
                    over[combo].append((n, q))
                    cells.append(f"{'>' + format(options.budget, 'g') + ' s':>26}")
                else:
                    cells.append(f"{ms:>23.1f} ms")
            print(f"{n:>6} {q:>6} {held:>5.0%} " + " ".join(cells), flush=True)


def main() -> None:
    """Parse the options and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--nodes", default="25,250,1000")
    parser.add_argument("--queues", default="100,1000,10000")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds allowed for one round"
    )
    args = parser.parse_args()
    nodes = [int(x) for x in args.nodes.split(",")]
    queues = [int(x) for x in args.queues.split(",")]
    print("one round of policy.plan(snapshot): median wall-clock ms")
    print("nodes of 32 cores, 128 GiB; 'held' = share of cores held before the round")
    busy_title = (
        f"busy cluster (~{BUSY_FRACTION:.0%} of cores held by running executions)"
    )
    table(busy_title, True, nodes, queues, args)
    table("empty cluster (worst case)", False, nodes, queues, args)


if __name__ == "__main__":
    main()
