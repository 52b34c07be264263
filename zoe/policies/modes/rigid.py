"""``rigid``: all services of an execution or none; the head of the queue blocks."""

from __future__ import annotations

from collections.abc import Iterable

from zoe.policies.modes.common import Pending, RoundContext


class Rigid:
    """Walk the queue; place *all* missing services of each execution, or none.

    The first execution that cannot be placed whole ends the round, so nothing
    behind it overtakes it (DESIGN.md section 4, ``rigid``).
    """

    name = "rigid"

    def run(self, queue: Iterable[Pending], ctx: RoundContext) -> None:
        """Place the queue on ``ctx`` in order until one does not fit."""
        for pending in queue:
            placed = ctx.place_all(pending.view.groups, pending.missing())
            if placed is None:
                return
            ctx.commit(pending.view, placed)
