"""The one place that maps names to policies and placements.

A policy name is ``MODE[-preempt]-ORDERING``: for instance ``flexible-fifo``,
``rigid-psjf``, ``flexible-hrrn3d``, ``elastic-preempt-srpt2d``, ``backfill-fifo``.
``rigid`` has no preemptive variant (it has no elastic services to take back).
An unknown name raises :class:`UnknownName` listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable

from zoe.core.errors import UnknownName
from zoe.policies.orderings import ORDERING_HELP, make_ordering, ordering_names
from zoe.policies.placements import PlacementRule
from zoe.policies.placements.first_fit import FirstFit
from zoe.policies.placements.random_fit import RandomFit
from zoe.policies.placements.scan import BestFit, Pack, Spread
from zoe.policies.policy import SchedulingPolicy

MODES = {
    "rigid": "all services of an execution or none; the head of the queue blocks",
    "elastic": "essential services all or none, then as many elastic ones as fit",
    "flexible": "the Pace et al. heuristic: later essentials win over earlier elastics",
    "backfill": "flexible that goes on past what it cannot serve, without delaying it",
}
PREEMPTIBLE_MODES = ("elastic", "flexible", "backfill")

PLACEMENTS: dict[str, tuple[Callable[[], PlacementRule], str]] = {
    "first-fit": (FirstFit, "the first node in the cluster's order that fits"),
    "spread": (Spread, "the fitting node with the fewest services (original default)"),
    "pack": (Pack, "the fitting node with the most services"),
    "best-fit": (BestFit, "the fitting node left with the least free capacity"),
    "random": (RandomFit, "a fitting node drawn with the seeded generator"),
}


def make_placement(name: str) -> PlacementRule:
    """The placement rule called ``name``."""
    try:
        factory = PLACEMENTS[name][0]
    except KeyError:
        raise UnknownName("placement", name, PLACEMENTS) from None
    return factory()


def policy_names() -> list[str]:
    """Every valid policy name."""
    names = []
    for mode in MODES:
        variants = [mode, f"{mode}-preempt"] if mode in PREEMPTIBLE_MODES else [mode]
        for variant in variants:
            names += [f"{variant}-{ordering}" for ordering in ordering_names()]
    return names


def make_policy(
    name: str,
    placement: str = "first-fit",
    *,
    seed: int = 0,
    estimate_error: float = 0.0,
    max_reservations: int = 8,
) -> SchedulingPolicy:
    """Build the policy called ``name`` with the placement rule ``placement``.

    ``seed`` drives every random choice (placement ``random``, estimation error);
    ``estimate_error`` is the sigma of the log-normal error on durations read by
    orderings; ``max_reservations`` bounds the reservations of ``backfill``.
    """
    mode, _, rest = name.partition("-")
    preempt = rest.startswith("preempt-")
    ordering_name = rest.removeprefix("preempt-") if preempt else rest
    if mode not in MODES or (preempt and mode not in PREEMPTIBLE_MODES):
        raise UnknownName("policy", name, _examples())
    try:
        ordering = make_ordering(ordering_name)
    except UnknownName:
        raise UnknownName("policy", name, _examples()) from None
    return SchedulingPolicy(
        mode,
        ordering,
        make_placement(placement),
        preempt=preempt,
        seed=seed,
        estimate_error=estimate_error,
        max_reservations=max_reservations,
    )


def _examples() -> list[str]:
    # the full list has over a hundred names; the grammar and its parts say more
    orderings = "|".join(ORDERING_HELP)
    return [
        f"MODE[-preempt]-ORDERING[1d|2d|3d] with MODE {'|'.join(MODES)} "
        f"and ORDERING {orderings} (e.g. flexible-hrrn3d; see `zoe policies`)"
    ]


def describe() -> list[str]:
    """One line per mode, ordering, placement and extension, for `zoe policies`."""
    lines = ["Policies are named MODE[-preempt]-ORDERING, e.g. flexible-hrrn3d.", ""]
    lines += ["Modes:"] + [f"  {name:<10} {text}" for name, text in MODES.items()]
    lines += [
        "  -preempt   (elastic, flexible, backfill) take back elastic services of "
        "lower-priority executions to start essential ones",
        "",
        "Orderings (size-based ones take 1d, 2d or 3d; 1d by default):",
    ]
    lines += [f"  {name:<10} {text}" for name, text in ORDERING_HELP.items()]
    lines += ["", "Placements (--placement):"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in PLACEMENTS.items()]
    return lines
