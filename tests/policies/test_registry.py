"""The policy registry and `zoe policies`."""

from __future__ import annotations

import pytest
from builders import execution, group, node, snapshot
from typer.testing import CliRunner

from zoe.cli.main import app
from zoe.core.errors import UnknownName
from zoe.policies.registry import (
    MODES,
    PLACEMENTS,
    make_placement,
    make_policy,
    policy_names,
)

PLACEMENT_NAMES = ["first-fit", "spread", "pack", "best-fit", "random"]
ORDERINGS = ["fifo", "size", "dynsize", "psjf", "srpt", "hrrn"]


def test_every_policy_name_builds_and_plans() -> None:
    snap = snapshot([node("n0", 4, 16)], [execution("A", 0, [group(1, 1, 1, 2)])])
    names = policy_names()
    # 4 modes, 3 of them with -preempt: 7 variants x (fifo + 5 x 4 sized) = 147
    assert len(names) == 7 * 21
    assert len(set(names)) == len(names)
    for name in names:
        policy = make_policy(name)
        assert policy.name == name
        # one execution alone on an empty node: every policy starts it whole
        assert len(policy.plan(snap).starts) == 2


def test_the_documented_names_are_there() -> None:
    names = set(policy_names())
    for name in (
        "rigid-fifo",
        "elastic-fifo",
        "flexible-fifo",
        "flexible-hrrn3d",
        "elastic-preempt-srpt2d",
        "backfill-fifo",
        "rigid-psjf",
        "backfill-preempt-dynsize1d",
    ):
        assert name in names


def test_every_placement_builds() -> None:
    assert sorted(PLACEMENTS) == sorted(PLACEMENT_NAMES)
    for name in PLACEMENT_NAMES:
        assert make_placement(name).name == name
        assert make_policy("flexible-fifo", name).placement.name == name


@pytest.mark.parametrize(
    "name",
    [
        "rigid-preempt-fifo",
        "flexible-lifo",
        "gang-fifo",
        "flexible",
        "flexible-hrrn4d",
        "",
        "flexible-preempt",
        "elastic-fifo-preempt",
    ],
)
def test_unknown_policy_names_are_refused_with_the_valid_grammar(name: str) -> None:
    with pytest.raises(UnknownName) as caught:
        make_policy(name)
    assert caught.value.kind == "policy"
    message = str(caught.value)
    assert f"unknown policy {name!r}; valid policies: " in message
    for part in ("MODE[-preempt]-ORDERING", "rigid", "backfill", "hrrn", "fifo"):
        assert part in message


def test_unknown_placement_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownName) as caught:
        make_placement("worst-fit")
    assert caught.value.valid == sorted(PLACEMENT_NAMES)
    for name in PLACEMENT_NAMES:
        assert name in str(caught.value)
    with pytest.raises(UnknownName):
        make_policy("flexible-fifo", "worst-fit")


def test_zoe_policies_lists_modes_orderings_and_placements() -> None:
    result = CliRunner().invoke(app, ["policies"])
    assert result.exit_code == 0
    for word in [*MODES, *ORDERINGS, *PLACEMENT_NAMES, "-preempt", "1d", "3d"]:
        assert word in result.output
