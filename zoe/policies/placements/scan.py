"""Rules that pick the best fitting node by a score: ``spread``, ``pack``, ``best-fit``.

Each scans the preferred nodes (no labels beyond those asked for) and, only when
none fits, the others. Ties go to the node first in the cluster's order.
"""

from __future__ import annotations

from random import Random

from zoe.policies.workstate import WorkState


class _ScoredRule:
    """Choose the fitting node of lowest :meth:`score`."""

    name = ""
    sticky = False

    def choose(
        self,
        state: WorkState,
        millicores: int,
        memory: int,
        labels: frozenset[str],
        rng: Random,
    ) -> int:
        """Return the fitting node of lowest score, or -1."""
        if not state.any_fits(millicores, memory):
            return -1
        found = state.candidates(labels)
        for nodes in (found.preferred, found.others):
            node = self._best(state, nodes, millicores, memory)
            if node >= 0:
                return node
        return -1

    def _best(
        self, state: WorkState, nodes: list[int], millicores: int, memory: int
    ) -> int:
        fmc, fmem = state.free_millicores, state.free_memory
        best, best_score = -1, 0.0
        for node in nodes:
            if fmc[node] >= millicores and fmem[node] >= memory:
                score = self.score(state, node, millicores, memory)
                if best < 0 or score < best_score:
                    best, best_score = node, score
        return best

    def score(self, state: WorkState, node: int, millicores: int, memory: int) -> float:
        """Lower is better."""
        raise NotImplementedError


class Spread(_ScoredRule):
    """``spread``: the fitting node with the fewest services (the original default)."""

    name = "spread"

    def score(self, state: WorkState, node: int, millicores: int, memory: int) -> float:
        """The node's service count."""
        return state.counts[node]


class Pack(_ScoredRule):
    """``pack``: the fitting node holding the most services."""

    name = "pack"

    def score(self, state: WorkState, node: int, millicores: int, memory: int) -> float:
        """Minus the node's service count."""
        return -state.counts[node]


class BestFit(_ScoredRule):
    """``best-fit``: the fitting node left with the least free capacity.

    Free capacity left is measured as the sum of the fractions of the node's cores
    and memory that would stay free after placing the service.
    """

    name = "best-fit"

    def score(self, state: WorkState, node: int, millicores: int, memory: int) -> float:
        """Fraction of cores plus fraction of memory left free after placing."""
        return (state.free_millicores[node] - millicores) / state.capacity_millicores[
            node
        ] + (state.free_memory[node] - memory) / state.capacity_memory[node]
