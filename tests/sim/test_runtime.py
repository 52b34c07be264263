"""Runtime models: their rates, the registry, and their effect in the engine."""

from __future__ import annotations

import pytest

from zoe.core.cluster import Node
from zoe.core.errors import InvalidInput, UnknownName
from zoe.core.resources import Resources
from zoe.core.zapp import parse_zapp
from zoe.policies.registry import make_policy
from zoe.sim.run import simulate
from zoe.sim.runtime import AmdahlModel, make_runtime_model
from zoe.sim.traces.base import TraceEntry


def test_linear_rate_is_the_placed_fraction() -> None:
    model = make_runtime_model("linear")
    assert [model.rate(k, 4, None) for k in (1, 2, 3, 4)] == [0.25, 0.5, 0.75, 1.0]


def test_amdahl_rate() -> None:
    # s = 0.5, 1 of 3 placed: time per unit of work 0.5 + 0.5 * 3 = 2 -> rate 0.5
    model = make_runtime_model("amdahl", serial_fraction=0.5)
    assert model.rate(1, 3, None) == 0.5
    assert model.rate(3, 3, None) == 1.0
    # the entry's own fraction wins: s = 0 is the linear model
    assert model.rate(1, 4, 0.0) == 0.25
    # s = 1: nothing to parallelise, rate 1 whatever is placed
    assert model.rate(1, 4, 1.0) == 1.0


def test_amdahl_refuses_a_fraction_outside_0_1() -> None:
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        AmdahlModel(serial_fraction=1.5)


def test_rigid_rate_is_always_one() -> None:
    model = make_runtime_model("rigid")
    assert {model.rate(k, 5, None) for k in range(1, 6)} == {1.0}


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(UnknownName, match="amdahl, linear, rigid"):
        make_runtime_model("quadratic")


def test_unknown_option_is_input_error() -> None:
    with pytest.raises(InvalidInput, match="linear"):
        make_runtime_model("linear", speed=2)


# One node of 1 core; E has 1 essential + 2 elastic services of 1 core, D=100,
# so it only ever runs with 1 of 3 services:
# - linear: rate 1/3, ends at 300;
# - amdahl with s=0.5: rate 1 / (0.5 + 0.5 * 3) = 0.5, ends at 200;
# - rigid: rate 1, ends at 100.
@pytest.mark.parametrize(
    ("model", "options", "end"),
    [
        ("linear", {}, 300.0),
        ("amdahl", {"serial_fraction": 0.5}, 200.0),
        ("rigid", {}, 100.0),
    ],
)
def test_models_in_the_engine(
    model: str, options: dict[str, float], end: float
) -> None:
    app = parse_zapp(
        {
            "name": "e",
            "version": 4,
            "frameworks": [
                {
                    "name": "f",
                    "services": [
                        {
                            "name": "s",
                            "image": "i",
                            "essential_count": 1,
                            "total_count": 3,
                            "resources": {"cores": 1, "memory": "1GiB"},
                        }
                    ],
                }
            ],
        }
    )
    nodes = [Node("node-0", Resources(1000, 4 * 1024**3))]
    result = simulate(
        [TraceEntry("E", 0, 100, app)],
        nodes,
        make_policy("elastic-fifo"),
        runtime_model=model,
        runtime_options=options,
    )
    (record,) = result.records
    assert (record.start_time, record.full_time, record.end_time) == (0.0, None, end)
    assert result.summary["runtime_model"] == model
