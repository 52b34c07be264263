"""The policy interface: a snapshot in, a plan out.

A policy reads no clock, file or global setting: everything it knows is in the
snapshot and in the options it was built with (including its random seed), so the
same snapshot always gives the same plan, in the simulator and in the master.
"""

from __future__ import annotations

from typing import Protocol

from zoe.core.snapshot import Plan, Snapshot


class Policy(Protocol):
    """Turns a snapshot into a plan. ``name`` is its registry name.

    ``reads_remaining`` is False when the policy never reads the executions'
    ``remaining`` work, so that a shell may leave it out (None) of the views.
    """

    name: str
    reads_remaining: bool

    def plan(self, snapshot: Snapshot) -> Plan:
        """Decide one scheduling round; never mutate ``snapshot``."""
        ...
