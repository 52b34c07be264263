"""The simulator against queueing theory: M/M/c under rigid FIFO.

Executions of one 1-core service arrive as a Poisson process (rate lambda) with
exponential durations (mean 1 s) on ``c`` nodes of 1 core: an M/M/c queue with FIFO
service. Its mean waiting time is given by the Erlang C formula,

    C(c, a) = (a^c / c! * c / (c - a)) / (sum_{k<c} a^k / k! + a^c / c! * c / (c - a))
    Wq = C(c, a) / (c * mu - lambda),    a = lambda / mu,

and the mean ``queue_duration`` over seeded replications (after a warm-up) must
agree with it within the stated relative tolerance. A second test checks every
single wait against the exact FIFO recursion for c servers.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics

import pytest

from zoe.core.cluster import Node
from zoe.core.resources import Resources
from zoe.core.zapp import parse_zapp
from zoe.policies.registry import make_policy
from zoe.sim.run import simulate
from zoe.sim.traces.base import TraceEntry

WARM_UP = 2_000

ONE_CORE = parse_zapp(
    {
        "name": "job",
        "version": 4,
        "frameworks": [
            {
                "name": "f",
                "services": [
                    {
                        "name": "s",
                        "image": "i",
                        "essential_count": 1,
                        "total_count": 1,
                        "resources": {"cores": 1, "memory": "1GiB"},
                    }
                ],
            }
        ],
    }
)


def erlang_c_wait(c: int, arrival_rate: float, service_rate: float = 1.0) -> float:
    """Mean waiting time in queue of M/M/c (Erlang C)."""
    a = arrival_rate / service_rate
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    probability_wait = tail / (head + tail)
    return probability_wait / (c * service_rate - arrival_rate)


def test_erlang_c_by_hand() -> None:
    # M/M/1: Wq = rho / (mu - lambda) = 0.5 / 0.5 = 1
    assert erlang_c_wait(1, 0.5) == pytest.approx(1.0)
    # M/M/2, a = 1: C = (1/2 * 2) / (1 + 1 + 1) = 1/3; Wq = (1/3) / (2 - 1) = 1/3
    assert erlang_c_wait(2, 1.0) == pytest.approx(1 / 3)


def poisson_trace(arrival_rate: float, seed: int, jobs: int) -> list[TraceEntry]:
    rng = random.Random(seed)
    now = 0.0
    entries = []
    for i in range(jobs):
        now += rng.expovariate(arrival_rate)
        entries.append(TraceEntry(f"j{i}", now, rng.expovariate(1.0), ONE_CORE))
    return entries


def one_core_nodes(c: int) -> list[Node]:
    return [Node(f"node-{i}", Resources(1000, 4 * 1024**3)) for i in range(c)]


# The spread of one replication's mean wait (waits are strongly autocorrelated),
# measured over 40 seeds, is 5.4 % of Wq for c=1, rho=0.5 with 10,000 jobs and 8 %
# for c=4, rho=0.7 with 20,000 jobs; the tolerances are about three standard
# errors of the mean of the replications (3 and 2 of them, to stay near 10 s).
@pytest.mark.parametrize(
    ("c", "rho", "jobs", "replications", "tolerance"),
    [(1, 0.5, 10_000, 3, 0.10), (4, 0.7, 20_000, 2, 0.16)],
)
def test_mean_wait_matches_erlang_c(
    c: int, rho: float, jobs: int, replications: int, tolerance: float
) -> None:
    arrival_rate = rho * c
    means = []
    for seed in range(replications):
        trace = poisson_trace(arrival_rate, seed, WARM_UP + jobs)
        result = simulate(trace, one_core_nodes(c), make_policy("rigid-fifo"))
        waits = [r.queue_duration for r in result.records[WARM_UP:]]
        means.append(statistics.fmean(w for w in waits if w is not None))
        assert None not in waits
    expected = erlang_c_wait(c, arrival_rate)
    assert statistics.fmean(means) == pytest.approx(expected, rel=tolerance)


def test_every_wait_is_the_fifo_recursion() -> None:
    # FIFO on c identical servers: a job starts at max(its arrival, the earliest
    # time a server is free) and frees that server at start + duration.
    c, trace = 3, poisson_trace(2.4, 7, 3_000)
    free = [0.0] * c
    expected = []
    for job in trace:
        start = max(heapq.heappop(free), job.submit_time)
        expected.append(start - job.submit_time)
        heapq.heappush(free, start + job.duration)
    result = simulate(trace, one_core_nodes(c), make_policy("rigid-fifo"))
    assert [r.queue_duration for r in result.records] == expected
