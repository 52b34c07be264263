"""``random``: a fitting node drawn uniformly with the round's seeded generator."""

from __future__ import annotations

from random import Random

from zoe.policies.workstate import WorkState


class RandomFit:
    """Draw uniformly among the fitting preferred nodes, else among the others.

    The generator is the round's, seeded from the policy's seed and the snapshot
    time, so the same snapshot and seed give the same choices.
    """

    name = "random"
    sticky = False

    def choose(
        self,
        state: WorkState,
        millicores: int,
        memory: int,
        labels: frozenset[str],
        rng: Random,
    ) -> int:
        """Return a random fitting node's index, or -1."""
        if not state.any_fits(millicores, memory):
            return -1
        fmc, fmem = state.free_millicores, state.free_memory
        found = state.candidates(labels)
        for nodes in (found.preferred, found.others):
            fitting = [n for n in nodes if fmc[n] >= millicores and fmem[n] >= memory]
            if fitting:
                return fitting[rng.randrange(len(fitting))]
        return -1
