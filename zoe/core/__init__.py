"""The shared core: ZApps, resources, nodes, executions, snapshots, plans, errors.

Nothing here performs I/O, reads a clock or logs; the shells (simulator and master)
own all of that.
"""
