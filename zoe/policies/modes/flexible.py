"""``flexible``: the heuristic of Pace, Venzano, Carra and Michiardi.

The round follows DESIGN.md section 4 step by step. For each execution ``e`` of
the queue, in order:

1. save the tentative state;
2. remove every elastic placement made earlier in this round;
3. if ``e``'s essential services are not running, place all of them or none;
4. if ``e`` is running or its essential services were just placed, append ``e``
   to ``selected``;
5. for each execution in ``selected``, in order, place as many of its missing
   elastic services as fit, in instance order;
6. if neither the free cores nor the free memory of the cluster went down
   compared with the noted values, restore the saved state and end the round;
   otherwise note the new free values and go on.

The plan starts the essential services placed in step 3 and the elastic services
placed in the last step 5.

Two shortcuts keep a round from redoing work, without changing its outcome for
the deterministic placement rules: when ``e`` is already running, steps 2 and 5
would place the same elastic services again on the same state, so ``e``'s own are
placed on top of them; and when ``e``'s essential services do not fit, step 5
would rebuild the same placements, so the saved ones are put back as they were.
(With ``random`` placement the shortcuts keep earlier draws instead of drawing
again; the choices stay seeded and repeatable.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from zoe.policies.modes.common import Pending, Placed, RoundContext
from zoe.policies.preemption import Preemptor, Victim


@dataclass(slots=True)
class _Round:
    """The round's bookkeeping: who is selected and what each was given."""

    selected: list[Pending] = field(default_factory=list)
    essentials: list[tuple[Pending, list[Placed]]] = field(default_factory=list)
    fill: list[tuple[Pending, list[Placed]]] = field(default_factory=list)
    noted: tuple[int, int] = (0, 0)


class Flexible:
    """The flexible heuristic; with a :class:`Preemptor`, its preemptive variant.

    In the preemptive variant, an execution whose essential services do not fit
    takes back elastic services of lower-priority executions (see
    :mod:`zoe.policies.preemption`), and step 6 counts the start of its essential
    services as progress even when the preemption left the free totals level.
    """

    name = "flexible"

    def __init__(self, preemptor: Preemptor | None = None) -> None:
        self.preemptor = preemptor

    def run(self, queue: Iterable[Pending], ctx: RoundContext) -> None:
        """Run the round over ``queue`` on ``ctx`` and commit its placements."""
        state = ctx.state
        r = _Round(noted=(state.total_free_millicores, state.total_free_memory))
        for pending in queue:
            if pending.essential:
                go_on = self._start(pending, ctx, r)
            else:
                go_on = self._grow(pending, ctx, r)
            if not go_on and not self.on_stuck(pending, ctx, r):
                break
        for done, placed in r.essentials + r.fill:
            ctx.commit(done.view, placed)

    def on_stuck(self, pending: Pending, ctx: RoundContext, r: _Round) -> bool:
        """An execution could not be served: True to go on with the next one.

        The heuristic as published ends the round; variants override this.
        """
        return False

    def _grow(self, pending: Pending, ctx: RoundContext, r: _Round) -> bool:
        # e runs: the rebuilt fill of `selected` equals the current one
        extra: list[Placed] = []
        self.fill_one(pending, ctx, extra)
        if not extra:
            return False
        r.selected.append(pending)
        r.fill.append((pending, extra))
        r.noted = (ctx.state.total_free_millicores, ctx.state.total_free_memory)
        return True

    def _start(self, pending: Pending, ctx: RoundContext, r: _Round) -> bool:
        old_fill = r.fill
        self._remove(old_fill, ctx)
        placed, victims = self._place_essentials(pending, ctx)
        if placed is None:
            self._put_back(old_fill, ctx)
            return False

        r.selected.append(pending)
        fill: list[tuple[Pending, list[Placed]]] = []
        for chosen in r.selected:
            out: list[Placed] = []
            self.fill_one(chosen, ctx, out)
            fill.append((chosen, out))

        state = ctx.state
        went_down = (
            state.total_free_millicores < r.noted[0]
            or state.total_free_memory < r.noted[1]
        )
        if not went_down and not victims:
            self._remove(fill, ctx)
            ctx.unplace(pending.view.groups, placed)
            self._put_back(old_fill, ctx)
            r.selected.pop()
            return False

        if self.preemptor is not None:
            self.preemptor.accept(victims, ctx)
        r.essentials.append((pending, placed))
        r.fill = fill
        r.noted = (state.total_free_millicores, state.total_free_memory)
        return True

    def _place_essentials(
        self, pending: Pending, ctx: RoundContext
    ) -> tuple[list[Placed] | None, list[Victim]]:
        placed = self.place_essentials(pending, ctx)
        if placed is not None or self.preemptor is None:
            return placed, []
        placed = self.preemptor.make_room(pending, ctx, commit=False)
        return placed, self.preemptor.last if placed is not None else []

    def place_essentials(
        self, pending: Pending, ctx: RoundContext
    ) -> list[Placed] | None:
        """Place all of ``pending``'s essential services or none (step 3)."""
        return ctx.place_all(pending.view.groups, pending.essential)

    def fill_one(self, pending: Pending, ctx: RoundContext, out: list[Placed]) -> None:
        """Place ``pending``'s missing elastic services that fit (step 5)."""
        ctx.fill_elastic(pending, out)

    @staticmethod
    def _remove(fill: list[tuple[Pending, list[Placed]]], ctx: RoundContext) -> None:
        for pending, placed in fill:
            ctx.unplace(pending.view.groups, placed)

    @staticmethod
    def _put_back(fill: list[tuple[Pending, list[Placed]]], ctx: RoundContext) -> None:
        state = ctx.state
        for pending, placed in fill:
            groups = pending.view.groups
            for g, _, node in placed:
                state.place(node, groups[g].millicores, groups[g].memory)
