"""Small builders for the simulator's tests: ZApps by their groups, and nodes."""

from __future__ import annotations

from zoe.core.cluster import Node
from zoe.core.resources import Resources
from zoe.core.zapp import ZApp, parse_zapp

GIB = 1024**3


def zapp(*groups: tuple[int, int, float, int]) -> ZApp:
    """A ZApp of groups (essential_count, total_count, cores, memory GiB)."""
    services = [
        {
            "name": f"g{i}",
            "image": "img",
            "essential_count": essential,
            "total_count": total,
            "resources": {"cores": cores, "memory": f"{memory}GiB"},
        }
        for i, (essential, total, cores, memory) in enumerate(groups)
    ]
    return parse_zapp(
        {
            "name": "app",
            "version": 4,
            "frameworks": [{"name": "f", "services": services}],
        }
    )


def nodes(count: int, cores: int, memory_gib: int = 16) -> list[Node]:
    """``count`` nodes ``node-0``... of ``cores`` cores and ``memory_gib`` GiB."""
    return [
        Node(f"node-{i}", Resources(cores * 1000, memory_gib * GIB))
        for i in range(count)
    ]
