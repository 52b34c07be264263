"""The process that runs one experiment for the API (``python -m`` this module).

Started by :class:`zoe.api.experiment_worker.ExperimentWorker` in a session of
its own, with the specification and the output folder the worker chose::

    python -m zoe.api.experiment_child SPEC OUT --traces DIR --max-runs N --workers K

It checks the specification again (the traces folder may have changed since the
submission), runs the grid with :func:`~zoe.experiments.runner.run_experiment`
(which resumes from what ``OUT`` holds) and tells its progress on stdout, one
JSON object a line:

- ``{"event": "start", "total": T, "done": D}``: D runs were done already;
- ``{"event": "run", "run_id": ..., "ok": bool, "done": D, "failed": F}``;
- ``{"event": "end", "done": D, "failed": F, "error": first error or null}``,
  exit status 0;
- ``{"event": "error", "message": ...}``: the experiment as a whole failed,
  exit status 2.

The API shows these messages to the user: the traces folder and the output
folder are left out of them (:func:`hide_paths`).

When its stdin reaches its end (the API process went away), it kills its whole
process group, its worker processes included.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from zoe.core.errors import ZoeError

FAILED_EXIT = 2


def emit(event: str, **fields: Any) -> None:
    """Write one progress line on stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def hide_paths(message: str, traces: Path, out_dir: Path) -> str:
    """``message`` without the server's traces folder and output folder."""
    for folder, name in ((out_dir, "the experiment's folder"), (traces, "")):
        for path in {str(folder), str(folder.resolve())}:
            message = message.replace(f"{path}/", "")
            message = message.replace(path, name or "the traces folder")
    return message


def watch_parent() -> None:
    """Kill this process group once stdin ends (the parent closed it or died)."""

    def wait_then_kill() -> None:
        # the raw descriptor: a buffered reader's lock would stall the exit
        while os.read(0, 4096):
            pass
        if os.getpgrp() == os.getpid():  # a group of its own: only ours in it
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(FAILED_EXIT)

    threading.Thread(target=wait_then_kill, daemon=True, name="watch-parent").start()


def run(
    spec_path: Path, out_dir: Path, traces: Path, max_runs: int, workers: int
) -> int:
    """Run the experiment and report as the module docstring says; the exit status."""
    from zoe.api.experiment_specs import check_spec
    from zoe.experiments.grid import expand
    from zoe.experiments.runner import RunnerOptions, is_done, run_experiment

    checked = check_spec(spec_path.read_text(encoding="utf-8"), traces, max_runs)
    runs = expand(checked.spec)
    counts = {"done": sum(is_done(out_dir / "runs", r) for r in runs), "failed": 0}
    emit("start", total=len(runs), done=counts["done"])

    def on_run(run_id: str, ok: bool) -> None:
        counts["done" if ok else "failed"] += 1
        emit("run", run_id=run_id, ok=ok, **counts)

    options = RunnerOptions(out_dir=out_dir, workers=workers)
    result = run_experiment(checked.spec, options, on_run=on_run)
    first = result.failures[0] if result.failures else None
    error = None if first is None else f"{first['error_type']}: {first['error']}"
    emit("end", error=error and hide_paths(error, traces, out_dir), **counts)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m zoe.api.experiment_child")
    parser.add_argument("spec", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--traces", type=Path, required=True)
    parser.add_argument("--max-runs", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    watch_parent()
    try:
        return run(args.spec, args.out, args.traces, args.max_runs, args.workers)
    except ZoeError as exc:
        emit("error", message=hide_paths(str(exc), args.traces, args.out))
        return FAILED_EXIT
    except OSError as exc:  # its message would show the server's paths
        emit("error", message=f"cannot read or write a file: {exc.strerror}")
        return FAILED_EXIT
    except Exception as exc:
        # the API shows this message; the traceback goes to the folder's log
        logging.getLogger(__name__).exception("experiment: failed")
        message = f"{type(exc).__name__}: {exc}"
        emit("error", message=hide_paths(message, args.traces, args.out))
        return FAILED_EXIT


if __name__ == "__main__":
    sys.exit(main())
