"""Cheap building of the views the engine gives to policies.

The engine rebuilds the view of every running execution at every round (its
``remaining`` work changes with time), and reads the demands of every arriving
execution's ZApp; both are on the hot path of a simulation.
"""

from __future__ import annotations

import dataclasses

from zoe.core.resources import Resources
from zoe.core.snapshot import ExecutionView, GroupDemand, group_demands
from zoe.core.zapp import ZApp

_VIEW_SLOTS = (
    "id",
    "seq",
    "submit_time",
    "groups",
    "placements",
    "essential_running",
    "admitted",
    "size",
    "duration",
    "remaining",
    "service_count",
    "essential_count",
)
_new = object.__new__
(
    _set_id,
    _set_seq,
    _set_submit_time,
    _set_groups,
    _set_placements,
    _set_essential_running,
    _set_admitted,
    _set_size,
    _set_duration,
    _set_remaining,
    _set_service_count,
    _set_essential_count,
) = (getattr(ExecutionView, name).__set__ for name in _VIEW_SLOTS)


def with_remaining(view: ExecutionView, remaining: float) -> ExecutionView:
    """A copy of ``view`` with another ``remaining``: the hot path of every round.

    Fills the slots directly instead of running ``__init__`` and ``__post_init__``
    again (three times faster); used only while ExecutionView has exactly the
    slots listed above, else :func:`dataclasses.replace` is.
    """
    copy = _new(ExecutionView)
    _set_id(copy, view.id)
    _set_seq(copy, view.seq)
    _set_submit_time(copy, view.submit_time)
    _set_groups(copy, view.groups)
    _set_placements(copy, view.placements)
    _set_essential_running(copy, view.essential_running)
    _set_admitted(copy, view.admitted)
    _set_size(copy, view.size)
    _set_duration(copy, view.duration)
    _set_remaining(copy, remaining)
    _set_service_count(copy, view.service_count)
    _set_essential_count(copy, view.essential_count)
    return copy


if ExecutionView.__slots__ != _VIEW_SLOTS:  # pragma: no cover - a changed core type

    def with_remaining(view: ExecutionView, remaining: float) -> ExecutionView:
        return dataclasses.replace(view, remaining=remaining)


Shape = tuple[tuple[GroupDemand, ...], tuple[Resources, ...], int, int]
SHAPES: dict[int, tuple[ZApp, Shape]] = {}
SHAPES_LIMIT = 4096


def shape_of(zapp: ZApp) -> Shape:
    """Group demands, per-group demands, total and essential counts of ``zapp``.

    Cached by object identity (traces share ZApp objects between entries); the
    cache keeps the ZApp alive so an identity is never reused while cached.
    """
    cached = SHAPES.get(id(zapp))
    if cached is not None and cached[0] is zapp:
        return cached[1]
    groups = group_demands(zapp)
    shape = (
        groups,
        tuple(Resources(g.millicores, g.memory) for g in groups),
        sum(g.total_count for g in groups),
        sum(g.essential_count for g in groups),
    )
    if len(SHAPES) >= SHAPES_LIMIT:
        SHAPES.clear()
    SHAPES[id(zapp)] = (zapp, shape)
    return shape
