"""Zoe: scheduling of container-based analytic applications.

The same policy objects decide in the simulator (``zoe.sim``) and in the live master
(``zoe.live``); ``zoe.core`` and ``zoe.policies`` compute plans from snapshots and
never touch a clock, a socket, a file or a database.
"""

__version__ = "0.1.0"
