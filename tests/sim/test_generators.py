"""Workload models: determinism, parameters, and the distributions they promise."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import pytest

from zoe.core.errors import InvalidInput, UnknownName
from zoe.sim.generators import MODELS, generate, model_params
from zoe.sim.traces import read_trace, write_native


def test_registry_and_unknown_model() -> None:
    assert sorted(MODELS) == ["paper", "poisson"]
    with pytest.raises(UnknownName) as caught:
        generate("papers", seed=1, apps=1)
    assert caught.value.valid == ["paper", "poisson"]


@pytest.mark.parametrize("model", ["paper", "poisson"])
def test_deterministic_for_a_seed(model: str) -> None:
    first = list(generate(model, seed=7, apps=200))
    again = list(generate(model, seed=7, apps=200))
    other = list(generate(model, seed=8, apps=200))

    assert first == again
    assert [e.submit_time for e in first] != [e.submit_time for e in other]
    assert [e.id for e in first[:3]] == ["e1", "e2", "e3"]
    assert all(b.submit_time >= a.submit_time for a, b in pairwise(first))


def test_paper_structure_over_5000_apps() -> None:
    entries = list(generate("paper", seed=1, apps=5000))
    rigid = [e for e in entries if e.zapp.name == "paper-rigid"]
    elastic = [e for e in entries if e.zapp.name == "paper-elastic"]

    assert len(rigid) + len(elastic) == 5000
    # binomial(5000, 0.2): sd = sqrt(5000 x 0.2 x 0.8) = 28.3; allow 4 sd = 113
    assert abs(len(rigid) - 1000) <= 113
    assert all(e.zapp.essential_count == e.zapp.service_count for e in rigid)
    assert all(2 <= e.zapp.service_count <= 16 for e in rigid)
    assert all(1 <= e.zapp.essential_count <= 4 for e in elastic)
    assert all(
        4 <= e.zapp.service_count - e.zapp.essential_count <= 32 for e in elastic
    )
    assert {e.zapp.essential_count for e in elastic} == {1, 2, 3, 4}
    assert all(60.0 <= e.duration <= 86400.0 for e in entries)


def test_paper_arrivals_and_durations_within_tolerance() -> None:
    entries = list(generate("paper", seed=2, apps=5000))
    gaps = [b.submit_time - a.submit_time for a, b in pairwise(entries)]
    mean_gap = sum(gaps) / len(gaps)
    # exponential of mean 120: sd of the mean of 4999 gaps = 120 / sqrt(4999) = 1.7
    assert abs(mean_gap - 120.0) < 4 * 1.7
    durations = sorted(e.duration for e in entries)
    median = durations[len(durations) // 2]
    # the median of the clamped log-normal is its median, 600 s; sd of the sample
    # median is about 1.2533 x 600 x 1.5 / sqrt(5000) = 16 s
    assert abs(median - 600.0) < 4 * 16
    # P(draw < 60 s) = Phi((ln 60 - ln 600) / 1.5) = Phi(-1.535) = 0.0624
    at_minimum = sum(d == 60.0 for d in durations) / len(durations)
    assert abs(at_minimum - 0.0624) < 0.015


def test_paper_parameters_are_respected() -> None:
    entries = list(
        generate(
            "paper",
            seed=3,
            apps=300,
            rigid_fraction="0",
            essential_min="2",
            essential_max="2",
            elastic_min=0,
            elastic_max=0,
            duration_min=10,
            duration_max="10",
        )
    )
    assert all(e.zapp.name == "paper-elastic" for e in entries)
    assert all(e.zapp.service_count == 2 == e.zapp.essential_count for e in entries)
    assert all(e.duration == 10.0 for e in entries)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rigid_fraction": "1.5"}, "rigid_fraction"),
        ({"essential_min": 5}, "essential_min .5. must be at most essential_max"),
        ({"mean_interarrival": "-1"}, "mean_interarrival"),
        ({"mean_interarrival": "1e308"}, r"mean_interarrival: 1e\+308 seconds is abo"),
        ({"duration_max": 1e299}, r"duration_max: 1e\+299 seconds is above the lim"),
        ({"duration_median": 2e12}, "duration_median: .* above the limit of 1e"),
        ({"rate": 1}, "unknown paper model parameter 'rate'"),
    ],
)
def test_paper_bad_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        generate("paper", seed=1, apps=1, **params)


def test_poisson_distributions_within_tolerance() -> None:
    entries = list(generate("poisson", seed=4, apps=20000, rate=2.0, mean_duration=50))
    # first arrival counts as a gap from 0; mean gap 1 / rate = 0.5 s, sd of the
    # mean of 20000 exponential gaps = 0.5 / sqrt(20000) = 0.0035
    mean_gap = entries[-1].submit_time / len(entries)
    assert abs(mean_gap - 0.5) < 4 * 0.0035
    mean_duration = sum(e.duration for e in entries) / len(entries)
    assert abs(mean_duration - 50.0) < 4 * 50 / math.sqrt(20000)
    assert all(e.zapp.service_count == 1 == e.zapp.essential_count for e in entries)
    ((_, group),) = entries[0].zapp.groups()
    assert (group.demand.millicores, group.demand.memory) == (1000, 1024**3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mean_duration": "1e308"}, r"mean_duration: 1e\+308 seconds is above the"),
        ({"rate": 1e-300}, "option rate: .* give a rate of at least 1e-12"),
    ],
)
def test_poisson_times_above_the_limit(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        generate("poisson", seed=1, apps=1, **params)


def test_generated_times_above_the_limit_stop_the_stream() -> None:
    # a mean gap of 4e11 s: 50 arrivals add up to about 2e13 s, past the limit
    entries = generate("poisson", seed=1, apps=50, rate=2.5e-12)
    with pytest.raises(InvalidInput, match=r"model poisson: execution e[0-9]+ would"):
        list(entries)


def test_poisson_size_parameters() -> None:
    (entry,) = generate("poisson", seed=1, apps=1, cores="0.5", memory="256MiB")
    ((_, group),) = entry.zapp.groups()
    assert (group.demand.millicores, group.demand.memory) == (500, 256 * 1024**2)


def test_model_params_and_apps_check() -> None:
    assert "mean_interarrival" in model_params("paper")
    assert set(model_params("poisson")) == {"rate", "mean_duration", "cores", "memory"}
    with pytest.raises(InvalidInput, match="apps"):
        generate("poisson", seed=1, apps=-1)


def test_generated_trace_survives_a_round_trip(tmp_path: Path) -> None:
    entries = list(generate("paper", seed=5, apps=300))
    out = tmp_path / "paper.jsonl"
    assert write_native(entries, out) == 300
    assert list(read_trace(out)) == entries
