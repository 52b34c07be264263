"""What every allocation mode shares: one round's context and its basic moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from zoe.core.cluster import ServiceRef
from zoe.core.snapshot import ExecutionView, GroupDemand, Placement
from zoe.policies.placements import PlacementRule
from zoe.policies.workstate import WorkState

# (group, index, node) of a service placed during the round
Placed = tuple[int, int, int]


@dataclass(slots=True)
class Pending:
    """What one queued execution still lacks, by instance order.

    ``essential`` lists the (group, index) of its essential services not placed
    (all of them, or none when its essential services run). ``elastic[g]`` lists
    the indices of group ``g``'s elastic services not placed, ascending.
    """

    view: ExecutionView
    essential: list[tuple[int, int]]
    elastic: list[list[int]]

    def missing(self) -> list[tuple[int, int]]:
        """Every service it lacks, essential then elastic, in instance order."""
        return self.essential + [
            (g, i) for g, indices in enumerate(self.elastic) for i in indices
        ]

    @classmethod
    def of(cls, view: ExecutionView) -> Pending:
        """Compute what ``view`` lacks from its placements."""
        placed: list[set[int]] = [set() for _ in view.groups]
        for placement in view.placements:
            placed[placement.group].add(placement.index)
        essential: list[tuple[int, int]] = []
        elastic: list[list[int]] = []
        for g, demand in enumerate(view.groups):
            have = placed[g]
            essential += [
                (g, i) for i in range(demand.essential_count) if i not in have
            ]
            elastic.append(
                [
                    i
                    for i in range(demand.essential_count, demand.total_count)
                    if i not in have
                ]
            )
        return cls(view, essential, elastic)


@dataclass(slots=True)
class RoundContext:
    """The tentative state of a round and the rule that places services on it."""

    state: WorkState
    rule: PlacementRule
    rng: Random
    starts: list[Placement] = field(default_factory=list)
    stops: list[ServiceRef] = field(default_factory=list)
    choose_on: WorkState | None = None

    def place_one(self, demand: GroupDemand) -> int:
        """Place one service of ``demand`` by the rule; its node, or -1 (no change).

        The rule chooses on ``choose_on`` when it is set (a stricter view of the
        state, see :mod:`zoe.policies.modes.backfill`), else on ``state``.
        """
        on = self.state if self.choose_on is None else self.choose_on
        node = self.rule.choose(
            on,
            demand.millicores,
            demand.memory,
            demand.labels,
            self.rng,
        )
        if node >= 0:
            self.state.place(node, demand.millicores, demand.memory)
        return node

    def place_many(self, demand: GroupDemand, count: int) -> list[int]:
        """Place up to ``count`` alike services of ``demand`` one after the other,
        as :meth:`place_one` would; their nodes, fewer once none fits.

        With a sticky rule (see ``PlacementRule.sticky``) every service that
        fits on the chosen node goes there at once, with one choice and one
        change of the state.
        """
        if count == 1 or not self.rule.sticky or self.choose_on is not None:
            nodes = []
            for _ in range(count):
                node = self.place_one(demand)
                if node < 0:
                    break
                nodes.append(node)
            return nodes
        state, choose = self.state, self.rule.choose
        millicores, memory, labels = demand.millicores, demand.memory, demand.labels
        nodes = []
        while len(nodes) < count:
            node = choose(state, millicores, memory, labels, self.rng)
            if node < 0:
                break
            times = min(count - len(nodes), state.room(node, millicores, memory))
            state.place(node, millicores, memory, times)
            nodes += [node] * times
        return nodes

    def place_all(
        self, groups: tuple[GroupDemand, ...], services: list[tuple[int, int]]
    ) -> list[Placed] | None:
        """Place every service listed or none; the placements, or None.

        Consecutive services of one group are placed together (:meth:`place_many`).
        """
        state = self.state
        need_millicores = need_memory = 0
        for g, _ in services:
            need_millicores += groups[g].millicores
            need_memory += groups[g].memory
        if (
            need_millicores > state.total_free_millicores
            or need_memory > state.total_free_memory
        ):
            return None  # cannot fit in the total: spare the placing and undoing
        placed: list[Placed] = []
        start, count = 0, len(services)
        while start < count:
            g = services[start][0]
            end = start + 1
            while end < count and services[end][0] == g:
                end += 1
            nodes = self.place_many(groups[g], end - start)
            placed += [
                (g, i, n) for (_, i), n in zip(services[start:end], nodes, strict=False)
            ]
            if len(nodes) < end - start:
                self.unplace(groups, placed)
                return None
            start = end
        return placed

    def fill_elastic(self, pending: Pending, out: list[Placed]) -> None:
        """Place as many of ``pending``'s missing elastic services as fit.

        In instance order, skipping those that do not fit. The instances of a group
        are alike, so once one fails the rest of its group fails too.
        """
        groups = pending.view.groups
        for g, missing in enumerate(pending.elastic):
            if missing:
                nodes = self.place_many(groups[g], len(missing))
                out += [
                    (g, index, node)
                    for index, node in zip(missing, nodes, strict=False)
                ]

    def unplace(self, groups: tuple[GroupDemand, ...], placed: list[Placed]) -> None:
        """Undo ``placed`` (services of one execution) on the state."""
        state = self.state
        for g, _, node in placed:
            state.unplace(node, groups[g].millicores, groups[g].memory)

    def commit(self, view: ExecutionView, placed: list[Placed]) -> None:
        """Add ``placed`` services of ``view`` to the plan's starts."""
        names = self.state.names
        self.starts.extend(
            Placement(view.id, g, index, names[node]) for g, index, node in placed
        )
