"""Placement rules: which node a service goes to.

A rule is asked for one service at a time, with the round's tentative state; it
answers a node index or -1 when no node fits. Fit is the rule of DESIGN.md
section 4: free cores and free memory at least the demand, labels a subset of the
node's labels. Rules other than ``first-fit`` use nodes that carry labels the
service does not ask for only when no other node fits; ``first-fit`` keeps the
cluster's order exactly, as the reference semantics require.
"""

from __future__ import annotations

from random import Random
from typing import Protocol

from zoe.policies.workstate import WorkState


class PlacementRule(Protocol):
    """Chooses a node for one service; never changes the state itself."""

    name: str
    sticky: bool
    """True when the node chosen for a service would be chosen again for an alike
    service placed right after it, as long as it still fits: the round may then
    put several alike services there at once (see ``RoundContext.place_many``)."""

    def choose(
        self,
        state: WorkState,
        millicores: int,
        memory: int,
        labels: frozenset[str],
        rng: Random,
    ) -> int:
        """Return the index of the chosen node, or -1 when none fits."""
        ...
