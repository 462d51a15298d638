"""Cursor paging for every list the API serves: an opaque cursor, a bounded page size."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from wagedispute.platform.database import db
from wagedispute.platform.errors import InvalidInput

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# Far beyond any real list, and small enough that an OFFSET stays cheap.
MAX_OFFSET = 100_000


class CursorInvalid(InvalidInput):
    """A cursor we did not hand out (or a page size out of range)."""

    code = "cursor_invalid"
    message = "分页参数无效，请从第一页重新加载"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next page (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(offset: int) -> str:
    """The opaque cursor of the page starting at ``offset``."""
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for; no cursor is the first page."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CursorInvalid() from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise CursorInvalid()
    return offset


def page_size(limit: int | None) -> int:
    """The requested page size, checked."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise CursorInvalid(f"每页条数应在 1 到 {MAX_PAGE_SIZE} 之间")
    return limit


def paginate(stmt: sa.Select[Any], cursor: str | None, limit: int | None) -> Page[Any]:
    """One page of a totally ordered select (its ORDER BY must end with a unique column)."""
    return _page(db.session.scalars, stmt, cursor, limit)


def paginate_rows(stmt: sa.Select[Any], cursor: str | None, limit: int | None) -> Page[Any]:
    """``paginate`` for a select of several columns: the items are rows."""
    return _page(db.session.execute, stmt, cursor, limit)


def _page(run: Any, stmt: sa.Select[Any], cursor: str | None, limit: int | None) -> Page[Any]:
    offset = decode_cursor(cursor)
    size = page_size(limit)
    rows = list(run(stmt.offset(offset).limit(size + 1)))
    more = len(rows) > size
    return Page(rows[:size], encode_cursor(offset + size) if more else None)
