"""Configuration: one class of defaults, overridden by ``WAGEDISPUTE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "WAGEDISPUTE_"


class Config:
    """Defaults for every setting; each may be overridden by ``WAGEDISPUTE_<NAME>``."""

    # ``None`` means the ``instance/`` folder beside the package (Flask's default).
    INSTANCE_PATH: str | None = None
    # ``None`` means "SQLite under the app's instance folder" (the zero-setup default).
    DATABASE_URL: str | None = None
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    # ``None`` means "a random key kept in instance/secret-key" (development only).
    SECRET_KEY: str | None = None
    # Base URL the public sees: QR codes point here.
    PUBLIC_BASE_URL: str = "http://127.0.0.1:5000"
    DISTRICT_CODE: str = "YT"
    DISTRICT_NAME: str = "盐田区"
    TIMEZONE: str = "Asia/Shanghai"
    # Real WeChat credentials; when empty the local sandbox answers instead.
    WECHAT_APPID: str = ""
    WECHAT_SECRET: str = ""
    WECHAT_PUSH_TOKEN: str = ""
    WECHAT_PUSH_AES_KEY: str = ""
    WECHAT_TIMEOUT_SECONDS: float = 5.0
    # Subscribe-message template ids per purpose, "name=id,name=id" (new_lead, case_assigned,
    # case_returned, case_progress, breach_alert); a name without an id is sent as its own id,
    # which is what the sandbox expects.
    WECHAT_TEMPLATE_IDS: str = ""
    # A path to a CJK TrueType font for posters and PDFs; empty means "search the system".
    CJK_FONT_PATH: str = ""
    MAX_CONTENT_LENGTH: int = 10 * 1024 * 1024
    EVIDENCE_MAX_BYTES: int = 8 * 1024 * 1024
    TOKEN_TTL_SECONDS: int = 7 * 24 * 3600
    RATE_LIMIT_PER_MINUTE: int = 30
    TESTING: bool = False


def _coerce(value: str, default: Any) -> Any:
    """Convert an environment string to the type of the default it overrides."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the settings: class defaults, then the environment, then explicit overrides."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name in dir(Config):
        if not name.isupper():
            continue
        default = getattr(Config, name)
        raw = environ.get(ENV_PREFIX + name)
        settings[name] = default if raw is None else _coerce(raw, default)
    settings.update(overrides or {})
    return settings


def sqlite_url(instance_path: str | os.PathLike[str]) -> str:
    """The zero-setup database: a SQLite file under the instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "wagedispute.sqlite3")
