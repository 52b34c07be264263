"""Errors of the live system, extending the tree of :mod:`zoe.core.errors`::

    ZoeError
    ├── InvalidInput
    │   └── InvalidDeployment        a deployment name that cannot name a schema
    └── DatabaseError                the state database refused or failed
        ├── DatabaseUnavailable      no connection could be had in the time allowed
        ├── SchemaTooNew             the database was migrated by newer code
        ├── MasterRunning            another master holds the deployment
        └── EmbeddedServerError      the embedded PostgreSQL could not be started

Each carries the facts a caller may inspect as attributes.
"""

from __future__ import annotations

from zoe.core.errors import InvalidInput, ZoeError


class InvalidDeployment(InvalidInput):
    """A deployment name that does not match the pattern schema names are made from."""

    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        self.pattern = pattern
        super().__init__(
            f"invalid deployment name {name!r}: use 1 to 31 characters matching "
            f"{pattern} (a lower-case letter, then lower-case letters, digits or _)"
        )


class DatabaseError(ZoeError):
    """The state database refused an operation or could not be reached."""


class DatabaseUnavailable(DatabaseError):
    """No working connection to the database within ``waited_duration`` seconds."""

    def __init__(self, waited_duration: float, cause: str) -> None:
        self.waited_duration = waited_duration
        self.cause = cause
        super().__init__(
            f"database unavailable after retrying for {waited_duration:.1f}s: {cause}; "
            "check that PostgreSQL is running and that the database address is right"
        )


class MasterRunning(DatabaseError):
    """Another master holds the lock of the deployment's schema on the database."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        super().__init__(
            f"another master runs for this deployment (schema {schema}) on this "
            "database; stop it first, or give this one another deployment name"
        )


class SchemaTooNew(DatabaseError):
    """The deployment's schema has migrations that this version of Zoe does not know."""

    def __init__(self, schema: str, database_version: int, code_version: int) -> None:
        self.schema = schema
        self.database_version = database_version
        self.code_version = code_version
        super().__init__(
            f"schema {schema} is at version {database_version} but this Zoe knows "
            f"migrations up to {code_version} only; upgrade Zoe or use another "
            "deployment name"
        )


class EmbeddedServerError(DatabaseError):
    """The embedded PostgreSQL server could not be prepared, started or stopped."""
