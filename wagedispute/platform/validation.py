"""Input types every request model shares: text without control characters, bounded integers.

One home for the rules "no NUL or other control character in any text", "text that is only
invisible characters is no text", "an id fits the database's integer" and "``true`` is not a
number". PostgreSQL refuses NUL in text and integers above 2^63 outright (a 500 if they got that
far); SQLite would store them. Either way they are bad input, refused with 422 here.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

# The largest id PostgreSQL's INTEGER (and SQLite's rowid) columns hold.
MAX_ID = 2**31 - 1
# The largest BIGINT.
MAX_BIGINT = 2**63 - 1

# Line breaks and tabs are ordinary in a description; every other control character is not.
_ALLOWED_CONTROLS = frozenset("\n\r\t")
# Characters that render as nothing: zero-width spaces and joiners, the BOM, word joiner, etc.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me"})

# JSON Schema pattern for the OpenAPI document (generators then keep to printable text).
CONTROL_FREE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character other than a line break or tab."""
    return any(
        unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in text
    ) or any(unicodedata.category(ch) == "Cs" for ch in text)


def is_invisible(text: str) -> bool:
    """Whether ``text`` is non-empty but shows nothing (spaces, zero-width characters)."""
    return bool(text) and all(
        ch.isspace() or unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text
    )


def check_text(value: str) -> str:
    """Refuse control characters and invisible-only text; the value is otherwise unchanged."""
    if has_control_characters(value):
        raise PydanticCustomError("control_characters", "内容包含不可见的控制字符，请删除后重试")
    if is_invisible(value):
        raise PydanticCustomError("invisible_text", "内容不能只有空白或不可见字符")
    return value


def _refuse_bool(value: Any) -> Any:
    # pydantic's lax mode reads ``true`` as 1; a count or an id is never a yes/no.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "请填写整数")
    return value


# Text as people type it: bounded by each field's own ``max_length``.
SafeText = Annotated[
    str, AfterValidator(check_text), Field(json_schema_extra={"pattern": CONTROL_FREE_PATTERN})
]
# A whole number that is not a boolean (counts, scores, amounts); bounds come from ``Field``.
WholeNumber = Annotated[int, BeforeValidator(_refuse_bool)]
# A database id.
DbId = Annotated[int, BeforeValidator(_refuse_bool), Field(ge=1, le=MAX_ID)]
