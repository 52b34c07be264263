"""Allocation modes: how a sorted queue becomes placements (DESIGN.md section 4).

``rigid``, ``elastic`` and ``flexible`` follow the reference semantics to the
letter; ``backfill`` and the preemptive variants go beyond them and document their
rules in their modules.
"""
