"""The tentative state of one scheduling round.

A :class:`WorkState` starts as a copy of the snapshot's free capacities and is then
changed by the round: services are placed and unplaced as the allocation mode
tries things out. Besides per-node free capacity and service counts it keeps, for
each block of :data:`BLOCK` consecutive nodes, the largest free cores and the
largest free memory in the block, so that "which is the first node that fits"
skips whole blocks that cannot hold the service, and "does any node fit" looks at
one number per block. Blocks (rather than a tree) keep the state cheap to build,
which matters because a state is built for every round.
"""

from __future__ import annotations

from operator import attrgetter

from zoe.core.cluster import Node
from zoe.core.snapshot import NodeView

BLOCK = 32
"""Nodes per block of the summary maxima."""

UNBOUNDED = 1 << 62
"""What :meth:`WorkState.room` answers for a demand of nothing."""

_NODE_OF = attrgetter("node")
_FREE_MILLICORES = attrgetter("free_millicores")
_FREE_MEMORY = attrgetter("free_memory")
_SERVICE_COUNT = attrgetter("service_count")


class Layout:
    """What a round's state takes from the nodes themselves: it does not change
    while the nodes stay the same, so a policy builds it once for many rounds.
    """

    __slots__ = (
        "candidates_cache",
        "capacity_memory",
        "capacity_millicores",
        "labels",
        "names",
        "nodes",
    )

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        self.names = [node.name for node in nodes]
        self.labels = [node.labels for node in nodes]
        self.capacity_millicores = [node.capacity.millicores for node in nodes]
        self.capacity_memory = [node.capacity.memory for node in nodes]
        self.candidates_cache: dict[frozenset[str], Candidates] = {}

    @staticmethod
    def nodes_of(views: tuple[NodeView, ...]) -> tuple[Node, ...]:
        """The nodes of a snapshot, to compare with :attr:`nodes`."""
        return tuple(map(_NODE_OF, views))


class WorkState:
    """Free capacity per node, changed in place during one round.

    Node ``i`` is the snapshot's ``nodes[i]``. Every change goes through
    :meth:`place` and :meth:`unplace`, which keep the totals and the tree right.
    The caller guarantees a service is only placed where it fits.
    """

    __slots__ = (
        "_block_memory",
        "_block_millicores",
        "_candidates",
        "_first_fit_from",
        "capacity_memory",
        "capacity_millicores",
        "counts",
        "free_memory",
        "free_millicores",
        "labels",
        "mirror",
        "names",
        "total_free_memory",
        "total_free_millicores",
    )

    def __init__(
        self,
        nodes: tuple[NodeView, ...],
        empty: bool = False,
        layout: Layout | None = None,
    ) -> None:
        if layout is None:
            layout = Layout(tuple(map(_NODE_OF, nodes)))
        self.names = layout.names
        self.labels = layout.labels
        self.capacity_millicores = layout.capacity_millicores
        self.capacity_memory = layout.capacity_memory
        if empty:
            self.free_millicores = list(self.capacity_millicores)
            self.free_memory = list(self.capacity_memory)
            self.counts = [0] * len(nodes)
        else:
            self.free_millicores = list(map(_FREE_MILLICORES, nodes))
            self.free_memory = list(map(_FREE_MEMORY, nodes))
            self.counts = list(map(_SERVICE_COUNT, nodes))
        self.total_free_millicores = sum(self.free_millicores)
        self.total_free_memory = sum(self.free_memory)
        self._candidates = layout.candidates_cache
        self._first_fit_from: dict[tuple[int, int], int] = {}
        self.mirror: WorkState | None = None
        self._build_blocks()

    def copy(self) -> WorkState:
        """An independent copy (without the mirror)."""
        twin = object.__new__(WorkState)
        twin.names, twin.labels = self.names, self.labels
        twin.capacity_millicores = self.capacity_millicores
        twin.capacity_memory = self.capacity_memory
        twin.free_millicores = list(self.free_millicores)
        twin.free_memory = list(self.free_memory)
        twin.counts = list(self.counts)
        twin.total_free_millicores = self.total_free_millicores
        twin.total_free_memory = self.total_free_memory
        twin._candidates = self._candidates
        twin._first_fit_from = {}
        twin.mirror = None
        twin._block_millicores = list(self._block_millicores)
        twin._block_memory = list(self._block_memory)
        return twin

    def candidates(self, labels: frozenset[str]) -> Candidates:
        """The nodes a service asking for ``labels`` may use (computed once a round)."""
        found = self._candidates.get(labels)
        if found is None:
            found = self._candidates[labels] = Candidates(labels, self.labels)
        return found

    def __len__(self) -> int:
        return len(self.names)

    def _build_blocks(self) -> None:
        fmc, fmem, count = self.free_millicores, self.free_memory, len(self.names)
        starts = range(0, count, BLOCK)
        self._block_millicores = [max(fmc[i : i + BLOCK]) for i in starts]
        self._block_memory = [max(fmem[i : i + BLOCK]) for i in starts]

    def _lowered(self, node: int) -> None:
        # free capacity of `node` went down: its block's maxima may too
        b = node // BLOCK
        lo = b * BLOCK
        if self._block_millicores[b] > self.free_millicores[node]:
            self._block_millicores[b] = max(self.free_millicores[lo : lo + BLOCK])
        if self._block_memory[b] > self.free_memory[node]:
            self._block_memory[b] = max(self.free_memory[lo : lo + BLOCK])

    def _raised(self, node: int) -> None:
        b = node // BLOCK
        if self.free_millicores[node] > self._block_millicores[b]:
            self._block_millicores[b] = self.free_millicores[node]
        if self.free_memory[node] > self._block_memory[b]:
            self._block_memory[b] = self.free_memory[node]

    def place(self, node: int, millicores: int, memory: int, times: int = 1) -> None:
        """Take ``millicores`` and ``memory`` on ``node`` for ``times`` more services.

        The same change is made on :attr:`mirror`, when there is one.
        """
        if self.mirror is not None:
            self.mirror.place(node, millicores, memory, times)
        millicores *= times
        memory *= times
        self.free_millicores[node] -= millicores
        self.free_memory[node] -= memory
        self.counts[node] += times
        self.total_free_millicores -= millicores
        self.total_free_memory -= memory
        self._lowered(node)

    def room(self, node: int, millicores: int, memory: int) -> int:
        """How many services of this demand fit on ``node`` as it is now."""
        fits = UNBOUNDED
        if millicores > 0:
            fits = self.free_millicores[node] // millicores
        if memory > 0:
            fits = min(fits, self.free_memory[node] // memory)
        return fits

    def unplace(self, node: int, millicores: int, memory: int) -> None:
        """Give back what :meth:`place` took (on the mirror too)."""
        if self.mirror is not None:
            self.mirror.unplace(node, millicores, memory)
        self.free_millicores[node] += millicores
        self.free_memory[node] += memory
        self.counts[node] -= 1
        self.total_free_millicores += millicores
        self.total_free_memory += memory
        self._raised(node)
        if self._first_fit_from:
            self._first_fit_from.clear()

    def fits(self, node: int, millicores: int, memory: int) -> bool:
        """True when ``node`` has the free cores and memory (labels not checked)."""
        return (
            self.free_millicores[node] >= millicores
            and self.free_memory[node] >= memory
        )

    def any_fits(self, millicores: int, memory: int) -> bool:
        """False when no node has the room, whatever its labels.

        A True answer is only a hint: the largest free cores and the largest free
        memory may be on different nodes.
        """
        return (
            bool(self._block_millicores)
            and max(self._block_millicores) >= millicores
            and max(self._block_memory) >= memory
        )

    def first_fit(self, millicores: int, memory: int) -> int:
        """The lowest node index with the room, or -1. Labels are not checked.

        While free capacity only goes down, the answer for one demand can only
        move to later nodes; so the search for a demand starts where the last one
        for the same demand ended, until something is given back (:meth:`unplace`
        forgets every such start). A pass placing many alike services thus scans
        the nodes once instead of once per service.
        """
        fmc, fmem = self.free_millicores, self.free_memory
        block_mc, block_mem = self._block_millicores, self._block_memory
        count = len(fmc)
        key = (millicores, memory)
        start = self._first_fit_from.get(key, 0)
        found = -1
        for b in range(start // BLOCK, len(block_mc)):
            if block_mc[b] >= millicores and block_mem[b] >= memory:
                lo = max(b * BLOCK, start)
                for node in range(lo, min(b * BLOCK + BLOCK, count)):
                    if fmc[node] >= millicores and fmem[node] >= memory:
                        found = node
                        break
                if found >= 0:
                    break
        self._first_fit_from[key] = count if found < 0 else found
        return found


class Candidates:
    """The nodes a service with given labels may use, split by preference.

    ``preferred`` carry exactly the labels asked for; ``others`` carry labels the
    service does not ask for besides, and the placement rules other than first-fit
    use them last. Nodes that lack an asked-for label are in neither. Both lists,
    and their union ``in_order``, are in cluster order.
    """

    __slots__ = ("in_order", "others", "preferred")

    def __init__(
        self, labels: frozenset[str], node_labels: list[frozenset[str]]
    ) -> None:
        self.preferred = [i for i, own in enumerate(node_labels) if own == labels]
        self.others = [i for i, own in enumerate(node_labels) if labels < own]
        self.in_order = sorted(self.preferred + self.others)
