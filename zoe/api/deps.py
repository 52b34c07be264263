"""Who is calling, and what they may do: the dependencies of the handlers.

A caller proves who they are with ``Authorization: Bearer <token>``; the token's
digest is looked up in PostgreSQL (it must not have expired). Roles:

- ``admin``: everything, on every user's executions;
- ``user``: submits and acts on their own executions only; another user's
  execution is answered 404, exactly as one that does not exist;
- ``guest``: reads only (their own executions, the cluster, the scheduler).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zoe.api.errors import ApiError, unauthorized
from zoe.api.security import token_digest
from zoe.api.state import ApiState
from zoe.live.db import Role, UserRecord
from zoe.live.db.accounts import user_of_token

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/tokens")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user of a request, and the digest of their token."""

    user: UserRecord
    token_digest: str

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def is_admin(self) -> bool:
        return self.user.role is Role.ADMIN

    def may_see(self, owner: str) -> bool:
        """Whether this caller may see (and, unless a guest, act on) ``owner``'s."""
        return self.is_admin or owner == self.user.name


def get_state(request: Request) -> ApiState:
    """The :class:`ApiState` of the application."""
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(get_state)]


async def authenticated(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller of a request with a valid bearer token; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("no bearer token: log in with POST /api/v1/tokens")
    digest = token_digest(credentials.credentials)
    user = await state.db(
        lambda repo: repo.transaction(lambda tx: user_of_token(tx, digest))
    )
    if user is None:
        raise unauthorized("the token is wrong or has expired: log in again")
    return Caller(user, digest)


async def writer(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """A caller who may change things: not a guest; 403 otherwise."""
    if caller.user.role is Role.GUEST:
        raise ApiError(403, "Forbidden", "guests may only read; ask an administrator")
    return caller


async def admin(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """An administrator; 403 otherwise."""
    if not caller.is_admin:
        raise ApiError(403, "Forbidden", "only an administrator may do this")
    return caller


Reader = Annotated[Caller, Depends(authenticated)]
Writer = Annotated[Caller, Depends(writer)]
Admin = Annotated[Caller, Depends(admin)]
