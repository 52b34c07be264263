"""The request and response bodies of the REST API (they make its OpenAPI).

Units follow ZApps: ``cores`` is a number of CPUs, ``memory`` an integer of
bytes. Times are ISO 8601 strings in UTC, ``null`` when not reached.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zoe.core.execution import ExecutionStatus
from zoe.live.db import Role
from zoe.live.db.submissions import USER_NAME_PATTERN

REQUEST_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error reply."""

    error: ErrorDetail


class Info(BaseModel):
    name: Literal["zoe"]
    version: str
    api_version: int
    deployment: str


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`ok` (200) when the database and the master both answer, "
        "else `degraded` (503)."
    )
    database: bool = Field(description="The database answered.")
    master: bool = Field(description="The master answered.")


class TokenIn(_In):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field("cli", min_length=1, max_length=64)
    lifetime_days: float | None = Field(None, gt=0, le=365, allow_inf_nan=False)


class TokenOut(BaseModel):
    token: str
    name: str
    user: str
    role: Role
    expires_time: str


class SubmitIn(_In):
    name: str = Field(min_length=1, max_length=128)
    zapp: dict[str, Any]
    request_id: str | None = Field(
        None,
        pattern=REQUEST_ID_PATTERN,
        description="Repeat it to retry a submission without submitting twice.",
    )


class SubmitOut(BaseModel):
    id: int
    status: ExecutionStatus
    master: Literal["notified", "unreachable"]
    message: str


class Port(BaseModel):
    name: str
    address: str | None = Field(
        description="`host:port` where the published port answers while the "
        "service runs; `null` until the backend gave it (always with the "
        "simulated backend)."
    )
    url: str | None = Field(
        description="The port's URL template with `{ip_port}` replaced by "
        "`address`; `null` without a template or an address."
    )


class ServiceOut(BaseModel):
    id: int
    execution_id: int
    name: str
    framework: str
    group: str
    index: int
    essential: bool
    status: str
    node: str | None
    container_id: str | None
    ip: str | None
    ports: list[Port]
    cores: float
    memory: int
    exit_code: int | None
    reason: str | None
    cpu_usage: float | None = Field(
        None, description="Cores in use at `usage_time` (Docker backends)."
    )
    memory_usage: int | None = Field(
        None, description="Bytes of memory in use at `usage_time`."
    )
    usage_time: str | None = Field(
        None, description="When the latest usage sample was taken."
    )


class ExecutionSummary(BaseModel):
    id: int
    name: str
    user: str
    status: ExecutionStatus
    kind: str
    size: float | None
    submit_time: str
    start_time: str | None
    end_time: str | None
    reason: str | None


class ExecutionDetail(ExecutionSummary):
    zapp: dict[str, Any]
    services: list[ServiceOut]


class ExecutionPage(BaseModel):
    executions: list[ExecutionSummary]
    next: str | None = Field(description="Pass as `cursor` for the next page.")


class TerminateOut(BaseModel):
    id: int
    status: ExecutionStatus


class ServiceLogs(BaseModel):
    name: str
    logs: str
    missing: str | None = None
    last_time: str | None = Field(
        None, description="UNIX seconds of the last line, exact to the nanosecond."
    )
    next_since: str | None = Field(
        None, description="The `since` of the master's logs op that reads on."
    )
    ended: bool = Field(False, description="The service writes nothing more.")


class LogsOut(BaseModel):
    execution_id: int
    services: list[ServiceLogs]


class DeleteOut(BaseModel):
    id: int
    deleted: bool


class Endpoint(BaseModel):
    service: str
    port: str
    address: str | None = Field(description="As in a service's `ports`.")
    url: str | None = Field(description="As in a service's `ports`.")


class Amounts(BaseModel):
    cores: float
    memory: int


class NodeOut(BaseModel):
    name: str
    available: bool
    labels: list[str]
    capacity: Amounts
    free: Amounts
    services: int


class ClusterOut(BaseModel):
    nodes: list[NodeOut]


class SchedulerOut(BaseModel):
    policy: str
    placement: str
    queue_length: int
    queue: list[int]
    running: int
    rounds: int | None = None
    last_round_time: str | None
    last_round_duration: float | None


class FaultOut(BaseModel):
    path: str
    message: str


class ValidateOut(BaseModel):
    valid: bool
    version: int | None
    notes: list[str]
    faults: list[FaultOut]
    zapp: dict[str, Any] | None


class Quotas(_In):
    """A user's quotas; ``null`` is no limit. Strict: numbers only, no extra key."""

    max_executions: int | None = Field(None, ge=0, le=2**31 - 1, strict=True)
    max_cores: float | None = Field(
        None, ge=0, le=2**40, strict=True, allow_inf_nan=False
    )
    max_memory: int | None = Field(None, ge=0, le=2**62, strict=True)


class UserOut(Quotas):
    name: str
    role: Role
    created_time: str


class UserIn(Quotas):
    name: str = Field(pattern=USER_NAME_PATTERN)
    role: Role = Role.USER
    password: str | None = Field(None, min_length=8, max_length=1024)


class UserPatch(_In):
    role: Role | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)
    quotas: Quotas | None = Field(
        None,
        description="Sets the quotas given (`null`: no limit); those left out "
        "are kept.",
    )


class TokensRevokedOut(BaseModel):
    user: str
    revoked: int = Field(description="How many tokens were revoked.")
