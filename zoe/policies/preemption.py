"""Preemption of elastic services, for the ``-preempt`` policy variants.

When the essential services of an execution do not fit, the preemptor takes back
elastic services of executions that come *after* it in the policy's order (lower
priority), starting from the last execution and, inside one, from its last
service, until the essential services fit. Services that turn out not to be
needed are given back at once, so only what makes room is preempted. An essential
service is never preempted, and a preempted execution keeps its progress: it just
runs with fewer services until room appears. Services preempted in a round are
not placed again in the same round. If taking back every candidate is not enough,
nothing is preempted.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoe.core.cluster import ServiceRef
from zoe.core.snapshot import ExecutionView, GroupDemand
from zoe.policies.modes.common import Pending, Placed, RoundContext

# a candidate: (service, node index, demand)
Victim = tuple[ServiceRef, int, GroupDemand]


class Preemptor:
    """Makes room for essential services by taking back lower-priority elastics."""

    def __init__(
        self, order: Sequence[ExecutionView], node_index: dict[str, int]
    ) -> None:
        self._order = list(order)
        self._position = {view.id: i for i, view in enumerate(self._order)}
        self._node_index = node_index
        self.preempted: set[ServiceRef] = set()
        self.last: list[Victim] = []

    def candidates(self, view: ExecutionView) -> list[Victim]:
        """Elastic services of executions after ``view``, last ones first.

        A service on a node the snapshot leaves out (the live master's
        unavailable nodes) is no candidate: taking it back frees nothing usable.
        """
        victims: list[Victim] = []
        start = self._position[view.id] + 1
        index = self._node_index
        for other in reversed(self._order[start:]):
            elastic = [
                p
                for p in other.placements
                if p.index >= other.groups[p.group].essential_count and p.node in index
            ]
            elastic.sort(key=lambda p: (p.group, p.index), reverse=True)
            for p in elastic:
                ref = p.ref
                if ref not in self.preempted:
                    victims.append((ref, index[p.node], other.groups[p.group]))
        return victims

    def make_room(
        self, pending: Pending, ctx: RoundContext, commit: bool
    ) -> list[Placed] | None:
        """Preempt until ``pending``'s essential services fit; their placements.

        Returns None, with the state unchanged, when even all candidates are not
        enough. With ``commit`` the preempted services go into the plan at once;
        otherwise the caller calls :meth:`accept` or :meth:`undo` with
        :attr:`last`.
        """
        groups = pending.view.groups
        need_mc = sum(groups[g].millicores for g, _ in pending.essential)
        need_mem = sum(groups[g].memory for g, _ in pending.essential)
        state = ctx.state
        removed: list[Victim] = []
        placed = None
        for victim in self.candidates(pending.view):
            _, node, demand = victim
            state.unplace(node, demand.millicores, demand.memory)
            removed.append(victim)
            if (
                state.total_free_millicores < need_mc
                or state.total_free_memory < need_mem
            ):
                continue
            placed = ctx.place_all(groups, pending.essential)
            if placed is not None:
                break
        if placed is None:
            self.undo(removed, ctx)
            return None
        self.last = self._give_back(removed, ctx)
        if commit:
            self.accept(self.last, ctx)
        return placed

    def _give_back(self, removed: list[Victim], ctx: RoundContext) -> list[Victim]:
        state = ctx.state
        kept: list[Victim] = []
        for victim in reversed(removed):
            _, node, demand = victim
            if state.fits(node, demand.millicores, demand.memory):
                state.place(node, demand.millicores, demand.memory)
            else:
                kept.append(victim)
        return kept

    def accept(self, victims: list[Victim], ctx: RoundContext) -> None:
        """Record ``victims`` as preempted in the plan."""
        for ref, _, _ in victims:
            self.preempted.add(ref)
            ctx.stops.append(ref)

    def undo(self, victims: list[Victim], ctx: RoundContext) -> None:
        """Put ``victims`` back on their nodes (they were never preempted)."""
        for _, node, demand in victims:
            ctx.state.place(node, demand.millicores, demand.memory)
