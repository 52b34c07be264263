"""Nodes and exact cluster accounting.

:class:`Cluster` is the one mutable object of the core: it records which service is
allocated on which node and refuses any allocation that would take a node over its
capacity, any release of a service it does not hold, and any allocation of a
service twice. Both shells (simulator and master) keep one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from zoe.core.errors import CapacityError, InvalidCluster, NotFound
from zoe.core.resources import Resources, parse_cores, parse_memory


@dataclass(frozen=True, slots=True)
class Node:
    """A host: a name, a capacity and a set of labels."""

    name: str
    capacity: Resources
    labels: frozenset[str] = field(default_factory=frozenset)


class ServiceRef(NamedTuple):
    """Names one service: instance ``index`` of group ``group`` of an execution."""

    execution_id: str
    group: int
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose


def fits(
    demand: Resources, labels: frozenset[str], free: Resources, node: Node
) -> bool:
    """The fit rule of DESIGN.md section 4: within free capacity, labels a subset."""
    return demand.fits_in(free) and labels <= node.labels


class Cluster:
    """Mutable accounting of services allocated on nodes.

    Invariants, checked on every change: no node's free capacity is ever negative
    and never exceeds its capacity; a service is allocated at most once.
    """

    def __init__(self, nodes: Sequence[Node]) -> None:
        names = [node.name for node in nodes]
        if len(set(names)) != len(names):
            raise InvalidCluster("node names must be unique")
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.index: dict[str, int] = {node.name: i for i, node in enumerate(nodes)}
        self.free_millicores = [node.capacity.millicores for node in nodes]
        self.free_memory = [node.capacity.memory for node in nodes]
        self.service_counts = [0] * len(nodes)
        self._allocations: dict[ServiceRef, tuple[int, Resources]] = {}

    def add_node(self, node: Node) -> None:
        """Add ``node``, empty, after the others; a name already used is refused."""
        if node.name in self.index:
            raise InvalidCluster(f"node {node.name!r} is already in the cluster")
        self.index[node.name] = len(self.nodes)
        self.nodes = (*self.nodes, node)
        self.free_millicores.append(node.capacity.millicores)
        self.free_memory.append(node.capacity.memory)
        self.service_counts.append(0)

    def free(self, node: str) -> Resources:
        """The free capacity of ``node``."""
        i = self._node_index(node)
        return Resources(self.free_millicores[i], self.free_memory[i])

    def allocate(self, ref: ServiceRef, node: str, demand: Resources) -> None:
        """Reserve ``demand`` for ``ref`` on ``node``.

        Raises :class:`CapacityError` when it does not fit or ``ref`` is already
        allocated, leaving the cluster unchanged.
        """
        i = self._node_index(node)
        if ref in self._allocations:
            raise CapacityError(f"service {ref} is already allocated")
        if demand.is_negative():
            raise CapacityError(f"service {ref}: negative demand {demand}")
        if (
            demand.millicores > self.free_millicores[i]
            or demand.memory > self.free_memory[i]
        ):
            raise CapacityError(
                f"service {ref}: {demand} does not fit on {node} "
                f"(free {self.free(node)})"
            )
        self.free_millicores[i] -= demand.millicores
        self.free_memory[i] -= demand.memory
        self.service_counts[i] += 1
        self._allocations[ref] = (i, demand)

    def allocate_all(self, items: Iterable[tuple[ServiceRef, str, Resources]]) -> None:
        """Allocate every item or none: on the first refusal, undo and re-raise."""
        done: list[ServiceRef] = []
        try:
            for ref, node, demand in items:
                self.allocate(ref, node, demand)
                done.append(ref)
        except CapacityError:
            for ref in done:
                self.release(ref)
            raise

    def release(self, ref: ServiceRef) -> Resources:
        """Free what ``ref`` holds and return it; :class:`NotFound` if it holds none."""
        try:
            i, demand = self._allocations.pop(ref)
        except KeyError:
            raise NotFound("service allocation", str(ref)) from None
        self.free_millicores[i] += demand.millicores
        self.free_memory[i] += demand.memory
        self.service_counts[i] -= 1
        return demand

    def node_of(self, ref: ServiceRef) -> str | None:
        """The node ``ref`` is allocated on, or ``None``."""
        entry = self._allocations.get(ref)
        return None if entry is None else self.nodes[entry[0]].name

    def allocations(self) -> Iterator[tuple[ServiceRef, str, Resources]]:
        """Every allocation as (service, node, demand), in allocation order."""
        for ref, (i, demand) in self._allocations.items():
            yield ref, self.nodes[i].name, demand

    @property
    def capacity(self) -> Resources:
        """The total capacity of all nodes."""
        return Resources(
            sum(n.capacity.millicores for n in self.nodes),
            sum(n.capacity.memory for n in self.nodes),
        )

    @property
    def allocated(self) -> Resources:
        """The total of all allocations."""
        return self.capacity - Resources(
            sum(self.free_millicores), sum(self.free_memory)
        )

    def _node_index(self, node: str) -> int:
        try:
            return self.index[node]
        except KeyError:
            raise NotFound("node", node) from None


_SHORTHAND = re.compile(
    r"^(?P<count>[0-9]+)x(?P<cores>[0-9]+(?:\.[0-9]+)?)c(?P<memory>[0-9]+(?:\.[0-9]+)?)g$"
)


def parse_cluster(text: str) -> list[Node]:
    """Parse the shorthand ``NxCcMg``: N nodes ``node-0``..., C cores, M GiB each."""
    match = _SHORTHAND.match(text.strip())
    if match is None:
        raise InvalidCluster(
            f"cluster {text!r} is not understood; write NxCcMg (e.g. 25x32c128g: 25 "
            "nodes of 32 cores and 128 GiB) or give a JSON file of nodes"
        )
    count = int(match["count"])
    capacity = Resources(
        parse_cores(match["cores"]), parse_memory(f"{match['memory']}GiB")
    )
    if count < 1 or capacity.millicores <= 0 or capacity.memory <= 0:
        raise InvalidCluster(f"cluster {text!r} must have nodes with cores and memory")
    return [Node(f"node-{i}", capacity) for i in range(count)]


def nodes_from_document(document: object, source: str = "cluster") -> list[Node]:
    """Build nodes from ``{"nodes": [{"name", "cores", "memory", "labels"}]}``."""
    if not isinstance(document, Mapping) or not isinstance(document.get("nodes"), list):
        raise InvalidCluster(f'{source}: expected an object {{"nodes": [...]}}')
    nodes = []
    for i, entry in enumerate(document["nodes"]):
        nodes.append(node_from_entry(entry, f"{source}: nodes[{i}]"))
    if not nodes:
        raise InvalidCluster(f"{source}: nodes is empty; list at least one node")
    names = [node.name for node in nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidCluster(f"{source}: duplicate node names {duplicates}")
    return nodes


def node_from_entry(
    entry: object, where: str, extra: frozenset[str] = frozenset()
) -> Node:
    """A node from ``{"name", "cores", "memory", "labels"}``, checked.

    ``extra`` names further fields the caller reads itself (they are allowed
    here, not read). ``where`` prefixes every message. Raises
    :class:`InvalidCluster` saying what to fix.
    """
    valid = {"name", "cores", "memory", "labels"} | extra
    if not isinstance(entry, Mapping):
        raise InvalidCluster(
            f"{where}: expected an object with {', '.join(sorted(valid))}"
        )
    unknown = set(entry) - valid
    if unknown:
        raise InvalidCluster(
            f"{where}: unknown field(s) {sorted(unknown)}; valid: "
            f"{', '.join(sorted(valid))}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidCluster(f"{where}.name: a non-empty string is required")
    labels = entry.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InvalidCluster(f"{where}.labels: expected a list of strings")
    try:
        capacity = Resources(
            parse_cores(entry.get("cores")), parse_memory(entry.get("memory"))
        )
    except ValueError as exc:
        raise InvalidCluster(f"{where}: {exc}") from None
    if capacity.millicores <= 0 or capacity.memory <= 0:
        raise InvalidCluster(f"{where}: cores and memory must be greater than zero")
    return Node(name, capacity, frozenset(labels))
