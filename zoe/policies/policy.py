"""The policy object shared by the simulator and the master.

A :class:`SchedulingPolicy` is an ordering, an allocation mode and a placement
rule. Each round it decides the admission of new executions (their placement is
tried on the empty cluster: all services under ``rigid``, the essential ones
otherwise, with the policy's placement rule, or first-fit when that rule is
``random`` so that admission never depends on a draw; an execution that fails can
never run and is rejected with a reason; the answer is remembered per ZApp shape
for as long as the nodes stay the same),
sorts the queue, and lets the mode place services on a tentative copy of the
free capacity. It reads nothing but the snapshot and its own options: its random
generator is seeded from its seed and the snapshot time, so the same snapshot and
seed give the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from random import Random
from typing import Protocol

from zoe.core.resources import format_memory
from zoe.core.snapshot import ExecutionView, GroupDemand, Plan, Rejection, Snapshot
from zoe.policies.modes.backfill import Backfill
from zoe.policies.modes.common import Pending, RoundContext
from zoe.policies.modes.elastic import Elastic
from zoe.policies.modes.flexible import Flexible
from zoe.policies.modes.rigid import Rigid
from zoe.policies.orderings import Estimates, Ordering
from zoe.policies.placements import PlacementRule
from zoe.policies.placements.first_fit import FirstFit
from zoe.policies.preemption import Preemptor
from zoe.policies.workstate import Layout, WorkState

_NO_DRAWS = Random(0)  # handed to rules that never draw


class _Mode(Protocol):
    def run(self, queue: Iterable[Pending], ctx: RoundContext) -> None: ...


class SchedulingPolicy:
    """An ordering, an allocation mode and a placement rule; see the module doc.

    ``mode`` is one of ``rigid``, ``elastic``, ``flexible``, ``backfill``;
    ``preempt`` adds preemption of elastic services (not with ``rigid``).
    """

    def __init__(
        self,
        mode: str,
        ordering: Ordering,
        placement: PlacementRule,
        *,
        preempt: bool = False,
        seed: int = 0,
        estimate_error: float = 0.0,
        max_reservations: int = 8,
    ) -> None:
        self.mode = mode
        self.ordering = ordering
        self.placement = placement
        self.preempt = preempt
        self.seed = seed
        self.estimates = Estimates(estimate_error, seed)
        self.max_reservations = max_reservations
        # what depends on the nodes alone is kept while they stay the same: their
        # layout, and admission, decided once per shape of ZApp
        self._layout = Layout(())
        self._admissions: dict[tuple[GroupDemand, ...], str | None] = {}
        middle = "-preempt" if preempt else ""
        self.name = f"{mode}{middle}-{ordering.name}"
        # srpt sorts by it and backfill projects releases from it
        self.reads_remaining = mode == "backfill" or ordering.name.startswith("srpt")

    def __repr__(self) -> str:
        return f"<policy {self.name} placement={self.placement.name} seed={self.seed}>"

    def plan(self, snapshot: Snapshot) -> Plan:
        """Decide one round: admissions, starts, and preemptions."""
        # only the `random` rule draws; seeding costs a hash, so the others skip it
        rng = (
            Random(f"{self.seed}/{snapshot.time!r}")
            if self.placement.name == "random"
            else _NO_DRAWS
        )
        accepted, rejections = self._admit(snapshot, rng)
        executions = snapshot.executions
        waiting = [
            v for v in executions if v.admitted and len(v.placements) < v.service_count
        ]
        waiting += accepted
        if not waiting:
            return Plan(rejections=tuple(rejections))
        if self.estimates.sigma:
            self.estimates.forget_except({view.id for view in executions})
        # preemption ranks the running executions too: their elastics are victims
        ranked = waiting
        if self.preempt:
            ranked = [v for v in executions if v.admitted] + accepted

        state = WorkState(snapshot.nodes, layout=self._layout_of(snapshot))
        order = self.ordering.sort(ranked, snapshot.time, self.estimates)
        # lazy: a round often ends long before the end of a long queue
        queue = (Pending.of(view) for view in order if view.in_queue)
        ctx = RoundContext(state, self.placement, rng)
        self._mode(snapshot, order, state).run(queue, ctx)
        return Plan(tuple(ctx.starts), tuple(ctx.stops), tuple(rejections))

    def _mode(
        self, snapshot: Snapshot, order: list[ExecutionView], state: WorkState
    ) -> _Mode:
        if self.mode == "rigid":
            return Rigid()
        node_index = (
            {name: i for i, name in enumerate(state.names)}
            if self.preempt or self.mode == "backfill"
            else {}
        )
        preemptor = Preemptor(order, node_index) if self.preempt else None
        if self.mode == "elastic":
            return Elastic(preemptor)
        if self.mode == "flexible":
            return Flexible(preemptor)
        running = [view for view in snapshot.executions if view.essential_running]
        return Backfill(
            snapshot.time,
            running,
            self.estimates,
            node_index,
            preemptor,
            self.max_reservations,
        )

    def _admit(
        self, snapshot: Snapshot, rng: Random
    ) -> tuple[list[ExecutionView], list[Rejection]]:
        """Decide the admission of the new executions: those accepted, the rest."""
        accepted: list[ExecutionView] = []
        rejections: list[Rejection] = []
        new = [view for view in snapshot.executions if not view.admitted]
        if not new:
            return accepted, rejections
        layout = self._layout_of(snapshot)
        empty: RoundContext | None = None
        for view in sorted(new, key=lambda v: (v.seq, v.id)):
            if view.groups in self._admissions:
                reason = self._admissions[view.groups]
            else:
                if empty is None:
                    rule = self.placement
                    if rule.name == "random":
                        rule = FirstFit()
                    empty = RoundContext(
                        WorkState(snapshot.nodes, empty=True, layout=layout), rule, rng
                    )
                reason = self._admissions[view.groups] = self._admission(view, empty)
            if reason is None:
                accepted.append(view)
            else:
                rejections.append(Rejection(view.id, reason))
        return accepted, rejections

    def _layout_of(self, snapshot: Snapshot) -> Layout:
        nodes = Layout.nodes_of(snapshot.nodes)
        if nodes != self._layout.nodes:
            self._layout = Layout(nodes)
            self._admissions.clear()
        return self._layout

    def _admission(self, view: ExecutionView, empty: RoundContext) -> str | None:
        """None when ``view`` can run on the empty cluster, else the reason why not."""
        pending = Pending.of(view)
        # rigid starts all services at once; the other modes, the essential ones
        services = pending.missing() if self.mode == "rigid" else pending.essential
        placed = empty.place_all(view.groups, services)
        if placed is not None:
            empty.unplace(view.groups, placed)
            return None
        return _why_not(view, services, empty.state)


def _why_not(
    view: ExecutionView, services: list[tuple[int, int]], empty: WorkState
) -> str:
    what = "services" if len(services) == view.service_count else "essential services"
    for g in sorted({g for g, _ in services}):
        demand = view.groups[g]
        nodes = empty.candidates(demand.labels).in_order
        if not any(empty.fits(n, demand.millicores, demand.memory) for n in nodes):
            labels = f" with labels {sorted(demand.labels)}" if demand.labels else ""
            return (
                f"a service of group {g} needs {demand.millicores / 1000:g} cores and "
                f"{format_memory(demand.memory)}; no node{labels} is that large"
            )
    cores = sum(view.groups[g].millicores for g, _ in services) / 1000
    memory = sum(view.groups[g].memory for g, _ in services)
    return (
        f"its {len(services)} {what} ({cores:g} cores, {format_memory(memory)} in all) "
        "do not fit together on the empty cluster"
    )
