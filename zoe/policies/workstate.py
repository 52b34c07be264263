"""The tentative state of one scheduling round.

A :class:`WorkState` starts as a copy of the snapshot's free capacities and is then
changed by the round: services are placed and unplaced as the allocation mode
tries things out. It keeps, besides per-node free capacity and service counts, a
segment tree of the largest free cores and memory under each subtree, so that
"which is the first node that fits" is answered without scanning every node, and
"does any node fit" in constant time.
"""

from __future__ import annotations

from zoe.core.snapshot import NodeView


class WorkState:
    """Free capacity per node, changed in place during one round.

    Node ``i`` is the snapshot's ``nodes[i]``. Every change goes through
    :meth:`place` and :meth:`unplace`, which keep the totals and the tree right.
    The caller guarantees a service is only placed where it fits.
    """

    __slots__ = (
        "_candidates",
        "_max_memory",
        "_max_millicores",
        "_size",
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

    def __init__(self, nodes: tuple[NodeView, ...], empty: bool = False) -> None:
        self.names = [view.node.name for view in nodes]
        self.labels = [view.node.labels for view in nodes]
        self.capacity_millicores = [view.node.capacity.millicores for view in nodes]
        self.capacity_memory = [view.node.capacity.memory for view in nodes]
        if empty:
            self.free_millicores = list(self.capacity_millicores)
            self.free_memory = list(self.capacity_memory)
            self.counts = [0] * len(nodes)
        else:
            self.free_millicores = [view.free_millicores for view in nodes]
            self.free_memory = [view.free_memory for view in nodes]
            self.counts = [view.service_count for view in nodes]
        self.total_free_millicores = sum(self.free_millicores)
        self.total_free_memory = sum(self.free_memory)
        self._candidates: dict[frozenset[str], Candidates] = {}
        self.mirror: WorkState | None = None
        self._build_tree()

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
        twin.mirror = None
        twin._size = self._size
        twin._max_millicores = list(self._max_millicores)
        twin._max_memory = list(self._max_memory)
        return twin

    def candidates(self, labels: frozenset[str]) -> Candidates:
        """The nodes a service asking for ``labels`` may use (computed once a round)."""
        found = self._candidates.get(labels)
        if found is None:
            found = self._candidates[labels] = Candidates(labels, self.labels)
        return found

    def __len__(self) -> int:
        return len(self.names)

    def _build_tree(self) -> None:
        size = 1
        while size < max(1, len(self.names)):
            size *= 2
        self._size = size
        self._max_millicores = [-1] * (2 * size)
        self._max_memory = [-1] * (2 * size)
        self._max_millicores[size : size + len(self.names)] = self.free_millicores
        self._max_memory[size : size + len(self.names)] = self.free_memory
        for i in range(size - 1, 0, -1):
            self._max_millicores[i] = max(
                self._max_millicores[2 * i], self._max_millicores[2 * i + 1]
            )
            self._max_memory[i] = max(
                self._max_memory[2 * i], self._max_memory[2 * i + 1]
            )

    def _update(self, node: int) -> None:
        mc, mem = self._max_millicores, self._max_memory
        i = node + self._size
        mc[i] = self.free_millicores[node]
        mem[i] = self.free_memory[node]
        i //= 2
        while i:
            left, right = 2 * i, 2 * i + 1
            mc[i] = mc[left] if mc[left] > mc[right] else mc[right]
            mem[i] = mem[left] if mem[left] > mem[right] else mem[right]
            i //= 2

    def place(self, node: int, millicores: int, memory: int) -> None:
        """Take ``millicores`` and ``memory`` on ``node`` for one more service.

        The same change is made on :attr:`mirror`, when there is one.
        """
        if self.mirror is not None:
            self.mirror.place(node, millicores, memory)
        self.free_millicores[node] -= millicores
        self.free_memory[node] -= memory
        self.counts[node] += 1
        self.total_free_millicores -= millicores
        self.total_free_memory -= memory
        self._update(node)

    def unplace(self, node: int, millicores: int, memory: int) -> None:
        """Give back what :meth:`place` took (on the mirror too)."""
        if self.mirror is not None:
            self.mirror.unplace(node, millicores, memory)
        self.free_millicores[node] += millicores
        self.free_memory[node] += memory
        self.counts[node] -= 1
        self.total_free_millicores += millicores
        self.total_free_memory += memory
        self._update(node)

    def fits(self, node: int, millicores: int, memory: int) -> bool:
        """True when ``node`` has the free cores and memory (labels not checked)."""
        return (
            self.free_millicores[node] >= millicores
            and self.free_memory[node] >= memory
        )

    def any_fits(self, millicores: int, memory: int) -> bool:
        """False when no node has the room, whatever its labels; O(1) on the tree.

        A True answer is only a hint: the largest free cores and the largest free
        memory may be on different nodes.
        """
        return self._max_millicores[1] >= millicores and self._max_memory[1] >= memory

    def first_fit(self, millicores: int, memory: int) -> int:
        """The lowest node index with the room, or -1. Labels are not checked."""
        mc, mem, size = self._max_millicores, self._max_memory, self._size
        if mc[1] < millicores or mem[1] < memory:
            return -1
        stack = [1]
        pop, push = stack.pop, stack.append
        while stack:
            i = pop()
            if mc[i] < millicores or mem[i] < memory:
                continue
            if i >= size:
                return i - size
            push(2 * i + 1)
            push(2 * i)
        return -1


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
