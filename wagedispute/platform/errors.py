"""Domain errors: a machine code, a Chinese message for people, and the HTTP status they map to."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller can act on; it changes nothing."""

    code = "domain_error"
    message = "请求无法处理"
    status = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        super().__init__(f"{self.code}: {self.message}")


class InvalidInput(DomainError):
    """The request is well-formed but its content is not acceptable."""

    code = "invalid_input"
    message = "提交的内容有误，请检查后重试"
    status = 422


class NotFound(DomainError):
    """Unknown, or outside the caller's scope (never say which)."""

    code = "not_found"
    message = "找不到该记录"
    status = 404


class Unauthorized(DomainError):
    """No valid sign-in."""

    code = "unauthorized"
    message = "请先登录"
    status = 401


class Forbidden(DomainError):
    """Signed in, but this role may not do this."""

    code = "forbidden"
    message = "您没有权限进行此操作"
    status = 403


class Conflict(DomainError):
    """The request contradicts the current state (an illegal transition, a reused key)."""

    code = "conflict"
    message = "操作与当前状态冲突"
    status = 409


class InvalidTransition(Conflict):
    """The case state machine does not allow this step."""

    code = "invalid_transition"
    message = "当前状态下不能进行该操作"


class RateLimited(DomainError):
    """Too many requests from one caller."""

    code = "rate_limited"
    message = "操作过于频繁，请稍后再试"
    status = 429


class ServiceUnavailable(DomainError):
    """A backing service (database, Redis, WeChat) cannot be reached right now."""

    code = "service_unavailable"
    message = "系统繁忙，请稍后再试"
    status = 503
