"""``backfill``: the flexible heuristic that goes on past what it cannot serve.

Where ``flexible`` ends the round, ``backfill`` goes on with the next execution:

- an execution whose essential services do not fit gets a *reservation*: the
  earliest instant at which they would fit if the executions holding resources
  ended when the policy expects (its estimated remaining work divided by its
  current rate, placed services over all services, as in the ``linear`` model),
  and the nodes they would take then. If no instant can be promised (unknown
  durations), the round ends there, as in ``flexible``.
- a running execution none of whose missing elastic services fits is passed over.

An execution served after a reservation was made may not delay any reservation:
unless it is expected to end before the earliest reservation (estimated remaining
work at the rate of its essential services alone, the slowest it can run), each
of its services must fit on the nodes with every reservation's services held
from now on. That is stricter than needed and so never delays a reserved start
under the durations the policy knows. Elastic services of executions ahead of a
reservation are not restricted: they have the higher priority. The round keeps
at most ``max_reservations`` reservations and ends at the next blocked execution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from zoe.core.snapshot import ExecutionView
from zoe.policies.modes.common import Pending, Placed, RoundContext
from zoe.policies.modes.flexible import Flexible, _Round
from zoe.policies.orderings import Estimates
from zoe.policies.preemption import Preemptor
from zoe.policies.workstate import WorkState

# a release: (instant, [(node, millicores, memory), ...])
Release = tuple[float, list[tuple[int, int, int]]]


class Backfill(Flexible):
    """Flexible with reservations for the executions it has to pass over."""

    name = "backfill"

    def __init__(
        self,
        time: float,
        running: Sequence[ExecutionView],
        estimates: Estimates,
        node_index: dict[str, int],
        preemptor: Preemptor | None = None,
        max_reservations: int = 8,
    ) -> None:
        super().__init__(preemptor)
        self.time = time
        self.running = running
        self.estimates = estimates
        self.node_index = node_index
        self.max_reservations = max_reservations
        self.reservations: list[float] = []
        self.guard: WorkState | None = None
        # executions selected before the first reservation keep their priority
        self.ahead: set[str] = set()

    def on_stuck(self, pending: Pending, ctx: RoundContext, r: _Round) -> bool:
        """Pass over ``pending``; reserve for it when its essentials are not running."""
        if not pending.essential:
            return True
        if len(self.reservations) >= self.max_reservations:
            return False
        reserved = self._reserve(pending, ctx, r)
        if reserved is None:
            return False
        instant, nodes = reserved
        if self.guard is None:
            self.guard = ctx.state.copy()
            ctx.state.mirror = self.guard
        groups = pending.view.groups
        for (g, _), node in zip(pending.essential, nodes, strict=True):
            # held from now on in the guard only: it may go below zero there
            self.guard.place(node, groups[g].millicores, groups[g].memory)
        self.reservations.append(instant)
        return True

    def place_essentials(
        self, pending: Pending, ctx: RoundContext
    ) -> list[Placed] | None:
        """Step 3, on the guarded view when ``pending`` could delay a reservation."""
        ctx.choose_on = self._view_for(pending)
        try:
            return super().place_essentials(pending, ctx)
        finally:
            ctx.choose_on = None

    def fill_one(self, pending: Pending, ctx: RoundContext, out: list[Placed]) -> None:
        """Step 5, on the guarded view when ``pending`` could delay a reservation."""
        ctx.choose_on = self._view_for(pending)
        try:
            super().fill_one(pending, ctx, out)
        finally:
            ctx.choose_on = None

    def _view_for(self, pending: Pending) -> WorkState | None:
        if self.guard is None or pending.view.id in self.ahead:
            return None
        view = pending.view
        rate = view.essential_count / view.service_count
        end = self.time + self.estimates.remaining(view) / rate
        return None if end <= min(self.reservations) else self.guard

    def run(self, queue: Iterable[Pending], ctx: RoundContext) -> None:
        """Run the round; the guard stops mirroring the state at its end."""
        try:
            super().run(queue, ctx)
        finally:
            ctx.state.mirror = None

    def _reserve(
        self, pending: Pending, ctx: RoundContext, r: _Round
    ) -> tuple[float, list[int]] | None:
        if self.guard is None:
            self.ahead = {p.view.id for p in r.selected}
        scratch = (ctx.state if self.guard is None else self.guard).copy()
        releases = self._releases(ctx, r)
        for k, (instant, services) in enumerate(releases):
            for node, millicores, memory in services:
                scratch.unplace(node, millicores, memory)
            if k + 1 < len(releases) and releases[k + 1][0] == instant:
                continue  # all that ends at this instant goes first, in any order
            nodes = self._try(pending, ctx, scratch)
            if nodes is not None:
                return instant, nodes
        return None

    def _try(
        self, pending: Pending, ctx: RoundContext, scratch: WorkState
    ) -> list[int] | None:
        groups = pending.view.groups
        nodes: list[int] = []
        for g, _ in pending.essential:
            d = groups[g]
            node = ctx.rule.choose(scratch, d.millicores, d.memory, d.labels, ctx.rng)
            if node < 0:
                for placed_node, (gg, _) in zip(nodes, pending.essential, strict=False):
                    scratch.unplace(
                        placed_node, groups[gg].millicores, groups[gg].memory
                    )
                return None
            scratch.place(node, d.millicores, d.memory)
            nodes.append(node)
        return nodes

    def _releases(self, ctx: RoundContext, r: _Round) -> list[Release]:
        held: dict[str, list[tuple[int, int, int]]] = {}
        views: dict[str, ExecutionView] = {}
        # services preempted in this round no longer hold resources nor run
        gone = self.preemptor.preempted if self.preemptor is not None else set()
        for view in self.running:
            views[view.id] = view
            held[view.id] = [
                (
                    self.node_index[p.node],
                    view.groups[p.group].millicores,
                    view.groups[p.group].memory,
                )
                for p in view.placements
                # a node left out of the snapshot frees nothing usable
                if p.ref not in gone and p.node in self.node_index
            ]
        for chosen, placed in r.essentials + r.fill:
            view = chosen.view
            views[view.id] = view
            held.setdefault(view.id, []).extend(
                (node, view.groups[g].millicores, view.groups[g].memory)
                for g, _, node in placed
            )
        releases: list[Release] = []
        for eid, services in held.items():
            view = views[eid]
            if not services:
                continue
            remaining = self.estimates.remaining(view)
            if math.isinf(remaining):
                continue
            rate = len(services) / view.service_count
            releases.append((self.time + remaining / rate, services))
        releases.sort(key=lambda release: release[0])
        return releases
