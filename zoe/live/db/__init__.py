"""The state of a live deployment in PostgreSQL.

:class:`Database` is a connection bound to one deployment's schema, with retries;
:func:`migrate` brings the schema up to date; :class:`Repository` is what the
master and the API call; :class:`EmbeddedPostgres` runs a server of Zoe's own when
no database address is configured. Import this package only where psycopg2 may be
imported (never from ``zoe.core`` or ``zoe.policies``).
"""

from __future__ import annotations

from zoe.live.db.connection import DEPLOYMENT_PATTERN, Database, schema_name
from zoe.live.db.embedded import EmbeddedPostgres
from zoe.live.db.records import (
    EventRecord,
    ExecutionRecord,
    NodeRecord,
    NodeStatus,
    Role,
    ServiceRecord,
    ServiceSpec,
    ServiceUsage,
    SubjectKind,
    UserRecord,
)
from zoe.live.db.repository import Repository
from zoe.live.db.schema import drop_deployment, latest_version, migrate, schema_version
from zoe.live.db.transaction import Transaction

__all__ = [
    "DEPLOYMENT_PATTERN",
    "Database",
    "EmbeddedPostgres",
    "EventRecord",
    "ExecutionRecord",
    "NodeRecord",
    "NodeStatus",
    "Repository",
    "Role",
    "ServiceRecord",
    "ServiceSpec",
    "ServiceUsage",
    "SubjectKind",
    "Transaction",
    "UserRecord",
    "drop_deployment",
    "latest_version",
    "migrate",
    "schema_name",
    "schema_version",
]
