"""Experiments: from a TOML specification to results, figures and a report.

The pieces, in the order ``zoe experiment run`` uses them:

- :mod:`zoe.experiments.spec` reads and validates a specification;
- :mod:`zoe.experiments.grid` expands it into runs (trace x cluster x policy x
  placement x load x seed), each with a stable id and a fingerprint;
- :mod:`zoe.experiments.worker` carries out one run, in a worker process or on a
  Dask worker, and returns its result files as bytes;
- :mod:`zoe.experiments.runner` schedules the runs, resumes a grid, records
  failures and provenance;
- :mod:`zoe.experiments.results` gathers the tidy table and the statistics;
- :mod:`zoe.experiments.plots` and :mod:`zoe.experiments.report` draw the figures
  and write the report.

pandas, matplotlib and dask are imported only by the modules that need them.
"""
