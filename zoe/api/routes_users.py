"""``/api/v1/users``: users, roles, quotas and tokens (administrators), and ``me``.

At least one administrator who can log in always remains: demoting the last
one is answered 409. A new password revokes the user's tokens (but the one of
the request that changed it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zoe.api import schemas
from zoe.api.deps import Admin, Reader, State
from zoe.api.errors import not_found
from zoe.api.security import hash_password
from zoe.core.errors import InvalidInput, NotFound
from zoe.core.resources import format_cores
from zoe.live.db import Role, Transaction, UserRecord
from zoe.live.db.accounts import (
    create_user,
    list_users,
    lock_admins,
    revoke_user_tokens,
    set_role,
)
from zoe.live.protocol_errors import ConflictError
from zoe.live.replies import iso

router = APIRouter(tags=["users"])


def user_out(user: UserRecord) -> dict[str, Any]:
    """The public view of a user: never its password hash."""
    cores = user.max_cores_milli
    return {
        "name": user.name,
        "role": user.role,
        "max_executions": user.max_executions,
        "max_cores": None if cores is None else format_cores(cores),
        "max_memory": user.max_memory_bytes,
        "created_time": iso(user.created_time),
    }


def _quota_values(
    quotas: schemas.Quotas, current: UserRecord | None = None
) -> dict[str, int | None]:
    """The quota columns to store: each quota ``quotas`` gives and, for those it
    leaves out, ``current``'s (no limit without ``current``)."""
    cores = quotas.max_cores
    given = {
        "max_executions": quotas.max_executions,
        "max_cores_milli": None if cores is None else round(cores * 1000),
        "max_memory_bytes": quotas.max_memory,
    }
    if current is None:
        return given
    fields = {
        "max_executions": ("max_executions", current.max_executions),
        "max_cores_milli": ("max_cores", current.max_cores_milli),
        "max_memory_bytes": ("max_memory", current.max_memory_bytes),
    }
    return {
        column: given[column] if field in quotas.model_fields_set else kept
        for column, (field, kept) in fields.items()
    }


def _keep_an_admin(tx: Transaction, name: str) -> None:
    """Raise :class:`ConflictError` if ``name`` is the last administrator who
    can log in."""
    admins = lock_admins(tx)
    if admins == [name]:
        raise ConflictError(
            f"{name} is the last administrator: at least one administrator must "
            "remain; make another user an administrator first",
            {"user": name},
        )


@router.get("/users/me", response_model=schemas.UserOut)
async def me(caller: Reader) -> Any:
    """The caller's own user, role and quotas."""
    return user_out(caller.user)


@router.get("/users", response_model=list[schemas.UserOut])
async def users(state: State, caller: Admin) -> Any:
    """Every user, by name."""
    found = await state.db(lambda repo: repo.transaction(list_users))
    return [user_out(u) for u in found]


@router.post("/users", status_code=201, response_model=schemas.UserOut)
async def add_user(state: State, caller: Admin, body: schemas.UserIn) -> Any:
    """Create a user; 409 if the name is taken. Without a password, no login."""
    password_hash = None if body.password is None else hash_password(body.password)

    def work(tx: Transaction) -> UserRecord:
        try:
            create_user(tx, body.name, body.role, password_hash)
        except InvalidInput as exc:  # the only refusal: the name is taken
            raise ConflictError(str(exc), {"user": body.name}) from None
        tx.set_user_quota(body.name, **_quota_values(body))
        return tx.get_user(body.name)

    return user_out(await state.db(lambda repo: repo.transaction(work)))


@router.get("/users/{name}", response_model=schemas.UserOut)
async def get_user(state: State, caller: Admin, name: str) -> Any:
    """One user."""
    try:
        found = await state.db(lambda repo: repo.get_user(name))
    except NotFound:
        raise not_found("user", name) from None
    return user_out(found)


@router.patch("/users/{name}", response_model=schemas.UserOut)
async def change_user(
    state: State, caller: Admin, name: str, body: schemas.UserPatch
) -> Any:
    """Change a user's role, password or quotas (fields left out are kept).

    409 for demoting the last administrator. A new password revokes every
    token of the user but the one of this request.
    """
    password_hash = None if body.password is None else hash_password(body.password)

    def work(tx: Transaction) -> UserRecord:
        current = tx.get_user(name)
        if body.role is not None and body.role is not Role.ADMIN:
            _keep_an_admin(tx, name)
        if body.role is not None:
            set_role(tx, name, body.role)
        if password_hash is not None:
            tx.set_password_hash(name, password_hash)
            revoke_user_tokens(tx, name, keep_digest=caller.token_digest)
        if body.quotas is not None:
            tx.set_user_quota(name, **_quota_values(body.quotas, current))
        return tx.get_user(name)

    try:
        return user_out(await state.db(lambda repo: repo.transaction(work)))
    except NotFound:
        raise not_found("user", name) from None


@router.delete("/users/{name}/tokens", response_model=schemas.TokensRevokedOut)
async def revoke_tokens(state: State, caller: Admin, name: str) -> Any:
    """Revoke every token of a user (web sessions too), the caller's own included
    when ``name`` is the caller."""

    def work(tx: Transaction) -> int:
        return revoke_user_tokens(tx, name)

    try:
        revoked = await state.db(lambda repo: repo.transaction(work))
    except NotFound:
        raise not_found("user", name) from None
    return {"user": name, "revoked": revoked}
