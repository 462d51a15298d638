"""What every JSON endpoint shares: the caller, the parsed body, and its OpenAPI entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from wagedispute.access.actors import Actor
from wagedispute.access.tokens import actor_from_token
from wagedispute.models import Role
from wagedispute.platform.errors import DomainError, NotFound, Unauthorized

ModelT = TypeVar("ModelT", bound=BaseModel)


class MalformedJSON(DomainError):
    """The body is not JSON at all."""

    code = "malformed_json"
    message = "请求内容不是有效的 JSON"
    status = 400


class UnsupportedMediaType(DomainError):
    """The body is not sent as JSON."""

    code = "unsupported_media_type"
    message = "请以 application/json 格式提交"
    status = 415


def current_actor(*roles: Role) -> Actor:
    """The bearer token's actor; a role outside ``roles`` sees nothing here (404)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    actor = actor_from_token(token.strip())
    if roles and actor.role not in roles:
        raise NotFound()
    return actor


# The OpenAPI request body of an evidence upload: a multipart field "file" or the raw bytes.
UPLOAD_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def read_upload() -> bytes:
    """The uploaded file's bytes: the multipart field ``file``, else the raw request body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        return upload.read() if upload is not None else b""
    return request.get_data()


def parse_body(model: type[ModelT]) -> ModelT:
    """Validate the JSON body with a pydantic model; wrong type 415, not JSON 400, bad 422."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        return model.model_validate_json(request.get_data())
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise MalformedJSON() from exc
        raise


@dataclass
class Operation:
    """One documented endpoint."""

    method: str
    path: str
    summary: str
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    auth: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def documented(
    method: str,
    path: str,
    summary: str,
    *,
    request_model: type[BaseModel] | None = None,
    response_model: type[BaseModel] | None = None,
    auth: bool = True,
    **extra: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Record an endpoint for the OpenAPI document (the route itself is declared as usual)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS.append(
            Operation(method, path, summary, request_model, response_model, auth, extra)
        )
        return view

    return decorate


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document built from the same pydantic models that validate requests."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for op in OPERATIONS:
        entry: dict[str, Any] = {"summary": op.summary, "responses": {}}
        if op.request_model is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.request_model)}},
            }
        ok = {"description": "成功"}
        if op.response_model is not None:
            ok["content"] = {"application/json": {"schema": ref(op.response_model)}}
        entry["responses"]["200"] = ok
        entry["responses"]["default"] = {
            "description": "错误",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if op.auth:
            entry["security"] = [{"bearer": []}]
        entry.update(op.extra)
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "wagedispute mini-program API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
