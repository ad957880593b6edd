"""FastAPI dependencies: the service state, the engine in use, settings and the admin check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragqa.answer.engine import AnswerEngine
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
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let through only `Authorization: Bearer <RAGQA_ADMIN_TOKEN>`; no token set disables admin."""
    expected = settings.admin_token
    if not expected:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "admin disabled: set RAGQA_ADMIN_TOKEN to enable the admin routes")
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "admin routes need an 'Authorization: Bearer <token>' header",
                            headers={"WWW-Authenticate": "Bearer"})
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the admin token is not valid")


AdminDep = Depends(require_admin)
