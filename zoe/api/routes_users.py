"""``/api/v1/users``: users, roles and quotas (administrators), and ``me``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zoe.api import schemas
from zoe.api.deps import Admin, Reader, State
from zoe.api.errors import not_found
from zoe.api.security import hash_password
from zoe.core.errors import NotFound
from zoe.core.resources import format_cores
from zoe.live.db import Transaction, UserRecord
from zoe.live.db.accounts import create_user, list_users, set_role
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


def _quota_values(quotas: schemas.Quotas) -> dict[str, int | None]:
    cores = quotas.max_cores
    return {
        "max_executions": quotas.max_executions,
        "max_cores_milli": None if cores is None else round(cores * 1000),
        "max_memory_bytes": quotas.max_memory,
    }


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
    """Create a user; 422 if the name is taken. Without a password, no login."""
    password_hash = None if body.password is None else hash_password(body.password)

    def work(tx: Transaction) -> UserRecord:
        create_user(tx, body.name, body.role, password_hash)
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
    """Change a user's role, password or quotas (fields left out are kept)."""
    password_hash = None if body.password is None else hash_password(body.password)

    def work(tx: Transaction) -> UserRecord:
        tx.get_user(name)
        if body.role is not None:
            set_role(tx, name, body.role)
        if password_hash is not None:
            tx.set_password_hash(name, password_hash)
        if body.quotas is not None:
            tx.set_user_quota(name, **_quota_values(body.quotas))
        return tx.get_user(name)

    try:
        return user_out(await state.db(lambda repo: repo.transaction(work)))
    except NotFound:
        raise not_found("user", name) from None
