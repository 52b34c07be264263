"""``first-fit``: the first node in the cluster's order that fits."""

from __future__ import annotations

from random import Random

from zoe.policies.workstate import WorkState


class FirstFit:
    """Try the nodes in the cluster's order; take the first that fits.

    Without labels the answer comes from the state's segment tree in
    O(log n) for the usual case; with labels the eligible nodes are scanned in
    order. Nodes with extra labels are *not* put last: first-fit is the
    reference rule of DESIGN.md section 4 and keeps the cluster's order.
    """

    name = "first-fit"
    sticky = True  # the nodes before the chosen one lacked room; they still do

    def choose(
        self,
        state: WorkState,
        millicores: int,
        memory: int,
        labels: frozenset[str],
        rng: Random,
    ) -> int:
        """Return the first fitting node's index, or -1."""
        if not labels:
            # every node carries the empty set of labels: the tree answers alone
            return state.first_fit(millicores, memory)
        if not state.any_fits(millicores, memory):
            return -1
        fmc, fmem = state.free_millicores, state.free_memory
        for node in state.candidates(labels).in_order:
            if fmc[node] >= millicores and fmem[node] >= memory:
                return node
        return -1
