"""The exception tree of Zoe.

Every error Zoe raises on purpose derives from :class:`ZoeError`, so a caller may
catch one root. Errors that callers inspect carry structured fields::

    ZoeError
    ├── InvalidInput                 bad input from a user; the message says what to fix
    │   ├── InvalidZApp              .faults: list of Fault(path, message)
    │   ├── NotAZApp                 a JSON document that is no ZApp at all
    │   ├── InvalidTrace             .source, .line
    │   ├── InvalidCluster           a bad --cluster value or cluster file
    │   ├── InvalidSpec              a bad experiment specification; .source, .path
    │   └── UnknownName              .kind, .name, .valid: a registry lookup that failed
    ├── IllegalTransition            .subject, .old, .new: a refused status change
    ├── CapacityError                an allocation would go over capacity or below zero
    ├── NotFound                     .kind, .key: no such execution, service or node
    └── BackendError                 a backend could not carry out an operation

Errors of the live system (protocol, database) extend this tree in their own layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ZoeError(Exception):
    """Root of every error Zoe raises on purpose."""


class InvalidInput(ZoeError):
    """Input from a user (file, flag, payload) is wrong; the message says the fix."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One validation fault: the JSON path where it is, and what would be valid."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class InvalidZApp(InvalidInput):
    """A ZApp failed validation; ``faults`` lists every fault found, in order."""

    def __init__(self, faults: Sequence[Fault], source: str | None = None) -> None:
        self.faults = list(faults)
        self.source = source
        where = f"{source}: " if source else ""
        lines = "; ".join(str(f) for f in self.faults)
        super().__init__(f"{where}invalid ZApp: {lines}")


class NotAZApp(InvalidInput):
    """A document that is valid JSON but is not a ZApp of any known version."""


class InvalidTrace(InvalidInput):
    """A trace file is malformed at ``source`` line ``line`` (1-based, 0 if unknown)."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.reason = message
        super().__init__(
            f"{source}:{line}: {message}" if line else f"{source}: {message}"
        )


class InvalidCluster(InvalidInput):
    """A cluster description (``NxCcMg`` or a JSON file) is malformed."""


class InvalidSpec(InvalidInput):
    """An experiment specification is malformed at ``path`` inside ``source``."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.reason = message
        super().__init__(
            f"{source}: {path}: {message}" if path else f"{source}: {message}"
        )


class UnknownName(InvalidInput):
    """A name looked up in a registry (policy, placement, format...) is not known."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        kinds = f"{kind[:-1]}ies" if kind.endswith("y") else f"{kind}s"
        super().__init__(
            f"unknown {kind} {name!r}; valid {kinds}: {', '.join(self.valid)}"
        )


class IllegalTransition(ZoeError):
    """A status change that the state machine does not allow."""

    def __init__(self, subject: str, old: str, new: str) -> None:
        self.subject = subject
        self.old = old
        self.new = new
        super().__init__(f"{subject}: illegal transition from {old!r} to {new!r}")


class CapacityError(ZoeError):
    """An allocation would take a node over its capacity or a release below zero."""


class NotFound(ZoeError):
    """An object looked up by key does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class BackendError(ZoeError):
    """A backend could not carry out an operation; the message gives the reason."""
