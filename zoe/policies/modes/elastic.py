"""``elastic``: essential services all or none, then greedy elastic services."""

from __future__ import annotations

from collections.abc import Iterable

from zoe.policies.modes.common import Pending, Placed, RoundContext
from zoe.policies.preemption import Preemptor


class Elastic:
    """Walk the queue (DESIGN.md section 4, ``elastic``).

    For each execution: if its essential services are not running, place all of
    them or none, and if none, end the round; then place as many of its missing
    elastic services as fit, in instance order, skipping those that do not.

    With a :class:`Preemptor`, an execution whose essential services do not fit
    first takes back elastic services of executions after it in the order; only
    if that is not enough does the round end.
    """

    name = "elastic"

    def __init__(self, preemptor: Preemptor | None = None) -> None:
        self.preemptor = preemptor

    def run(self, queue: Iterable[Pending], ctx: RoundContext) -> None:
        """Place the queue on ``ctx`` in order until an execution's core is stuck."""
        for pending in queue:
            placed: list[Placed] = []
            if pending.essential:
                started = ctx.place_all(pending.view.groups, pending.essential)
                if started is None and self.preemptor is not None:
                    started = self.preemptor.make_room(pending, ctx, commit=True)
                if started is None:
                    return
                placed = started
            ctx.fill_elastic(pending, placed)
            ctx.commit(pending.view, placed)
