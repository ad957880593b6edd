"""FastAPI dependencies: the service state, the engine in use, settings and the admin check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragqa.answer.engine import AnswerEngine
from ragqa.api.admin import AdminGuard
from ragqa.api.state import ServiceState
from ragqa.config import Settings
from ragqa.errors import IndexMissingError


async def get_state(request: Request) -> ServiceState:
    """The app's service state, created by `create_app`."""
    return request.app.state.service


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    """The settings the app was created with."""
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_engine(state: StateDep) -> AnswerEngine:
    """The engine in use, read once so that one request sees one index even across a reindex."""
    engine = state.engine
    if engine is None:
        raise IndexMissingError(state.not_ready_reason or "no index is loaded")
    return engine


EngineDep = Annotated[AnswerEngine, Depends(get_engine)]


_bearer = HTTPBearer(auto_error=False, description="The RAGQA_ADMIN_TOKEN setting.")


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let through only `Authorization: Bearer <RAGQA_ADMIN_TOKEN>` (ragqa.api.admin; its
    middleware has already checked, before the body was read); no token set disables admin."""
    guard: AdminGuard = request.app.state.admin_guard
    client = request.client.host if request.client else "unknown"
    header = f"Bearer {credentials.credentials}" if credentials else None
    refusal = guard.check(header, client)
    if refusal is not None:
        raise HTTPException(refusal.status, refusal.message, headers=refusal.headers)


AdminDep = Depends(require_admin)
