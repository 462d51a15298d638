"""Settings: declared once, typed, from WAGEDISPUTE_* variables, overridden by an explicit mapping,
and documented by the README's generated table."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pydantic import ValidationError

from wagedispute.platform.config import (
    ENV_PREFIX,
    HARNESS_VARIABLES,
    README_BEGIN,
    README_END,
    SETTING_NAMES,
    Settings,
    load_settings,
    settings_table,
    variable_names,
)

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
# Config keys owned by Flask and its extensions rather than by this project.
FOREIGN_KEY_PREFIXES = ("SQLALCHEMY_", "SESSION_", "WTF_", "RATELIMIT_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the declared defaults: the machine's own settings are dropped."""
    import os

    for name in list(os.environ):
        if (name.startswith(ENV_PREFIX) and name not in HARNESS_VARIABLES) or name == "PORT":
            monkeypatch.delenv(name)


# Settings that are only valid together (Settings' own cross-checks): an example of one is
# given with the examples of the others.
SET_TOGETHER = ({"SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID", "SMS_SIGN_NAME"},)


def companions(name: str) -> dict[str, Any]:
    """The examples of the settings that must be set together with ``name``."""
    group = next((g for g in SET_TOGETHER if name in g), {name})
    return {other: Settings.model_fields[other].examples[0] for other in group - {name}}


def as_environment_text(value: Any) -> str:
    """How a value is written in an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_environment_overrides_defaults_with_the_declared_type(monkeypatch):
    monkeypatch.setenv("WAGEDISPUTE_REDIS_URL", "redis://h:1/2")
    monkeypatch.setenv("WAGEDISPUTE_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("WAGEDISPUTE_BENCH_ENDPOINTS", "yes")
    settings = load_settings()
    assert settings["REDIS_URL"] == "redis://h:1/2"
    assert settings["TOKEN_TTL_SECONDS"] == 60
    assert settings["BENCH_ENDPOINTS"] is True
    assert settings["DATABASE_URL"] is None


def test_explicit_mapping_wins_over_environment(monkeypatch):
    monkeypatch.setenv("WAGEDISPUTE_REDIS_URL", "redis://y/0")
    settings = load_settings({"REDIS_URL": "redis://x/0", "GROUP_WINDOW_DAYS": "30"})
    assert settings["REDIS_URL"] == "redis://x/0"
    assert settings["GROUP_WINDOW_DAYS"] == 30


def test_flask_keys_in_the_mapping_pass_through_unchecked():
    settings = load_settings({"TESTING": True, "SESSION_COOKIE_SECURE": True})
    assert settings["TESTING"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_unprefixed_variables_are_ignored(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere/0")
    assert load_settings()["REDIS_URL"] == Settings.model_fields["REDIS_URL"].default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WAGEDISPUTE_TOKEN_TTL_SECONDS", "a week"),
        ("WAGEDISPUTE_GROUP_WINDOW_DAYS", "0"),
        ("WAGEDISPUTE_TIMEZONE", "Asia/Atlantis"),
        ("WAGEDISPUTE_PORT", "70000"),
    ],
)
def test_a_bad_value_stops_the_app_at_start_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix(ENV_PREFIX)):
        load_settings()


def test_unknown_prefixed_variable_is_logged_as_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("WAGEDISPUTE_REDIS_ULR", "redis://typo/0")
    monkeypatch.setenv("WAGEDISPUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
    with caplog.at_level(logging.WARNING, logger="wagedispute.platform.config"):
        load_settings()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "WAGEDISPUTE_REDIS_ULR" in warned[0]


def test_create_app_warns_about_unknown_variables_at_start(monkeypatch, caplog, tmp_path):
    from tests.conftest import dispose
    from wagedispute import create_app

    monkeypatch.setenv("WAGEDISPUTE_GROUP_WINDOWS_DAYS", "30")
    with caplog.at_level(logging.WARNING, logger="wagedispute.platform.config"):
        app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x"})
    dispose(app)
    assert any("WAGEDISPUTE_GROUP_WINDOWS_DAYS" in r.getMessage() for r in caplog.records)


def test_public_url_follows_host_and_port_unless_set(monkeypatch):
    assert load_settings()["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
    monkeypatch.setenv("WAGEDISPUTE_HOST", "192.168.1.20")
    monkeypatch.setenv("PORT", "8000")
    assert load_settings()["PUBLIC_BASE_URL"] == "http://192.168.1.20:8000"
    monkeypatch.setenv("WAGEDISPUTE_PUBLIC_BASE_URL", "https://wage.example.gov.cn")
    assert load_settings()["PUBLIC_BASE_URL"] == "https://wage.example.gov.cn"


def test_wildcard_host_never_becomes_the_public_address(monkeypatch):
    monkeypatch.setenv("WAGEDISPUTE_HOST", "0.0.0.0")
    url = load_settings()["PUBLIC_BASE_URL"]
    assert re.fullmatch(r"http://\d+\.\d+\.\d+\.\d+:5000", url)
    assert "0.0.0.0" not in url


def test_settings_reach_the_app_config(monkeypatch):
    from tests.conftest import dispose
    from wagedispute import create_app

    monkeypatch.setenv("WAGEDISPUTE_GROUP_WINDOW_DAYS", "14")
    monkeypatch.setenv("WAGEDISPUTE_CONSOLE_DASHBOARD_CACHE_SECONDS", "0")
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x"})
    try:
        assert app.config["GROUP_WINDOW_DAYS"] == 14
        assert app.config["CONSOLE_DASHBOARD_CACHE_SECONDS"] == 0
    finally:
        dispose(app)


def test_default_database_is_sqlite_under_instance(tmp_path):
    from handlers import create_web_app
    from tests.conftest import dispose

    app = create_web_app({"SECRET_KEY": None})
    try:
        uri = app.config["SQLALCHEMY_DATABASE_URI"]
        assert uri.startswith("sqlite:///")
        assert uri.endswith("instance/wagedispute.sqlite3")
    finally:
        dispose(app)


def _config_keys_read_in_source() -> dict[str, str]:
    """Every upper-case key the code reads from an app's config, with one place it is read."""
    pattern = re.compile(r"""config(?:\[|\.get\()\s*["']([A-Z][A-Z0-9_]*)["']""")
    found: dict[str, str] = {}
    for package in ("wagedispute", "handlers"):
        for path in sorted((REPO / package).rglob("*.py")):
            for match in pattern.finditer(path.read_text(encoding="utf-8")):
                found.setdefault(match.group(1), str(path.relative_to(REPO)))
    return found


def test_every_config_key_the_code_reads_is_a_declared_setting():
    flask_keys = set(Flask.default_config)
    undeclared = {
        key: where
        for key, where in _config_keys_read_in_source().items()
        if key not in SETTING_NAMES
        and key not in flask_keys
        and not key.startswith(FOREIGN_KEY_PREFIXES)
    }
    # A key read but not declared has no environment variable: setting it silently does nothing.
    assert undeclared == {}


def test_readme_settings_table_is_generated_from_the_declarations():
    _, _, rest = README.partition(README_BEGIN + "\n")
    table, end, _ = rest.partition("\n" + README_END)
    assert end, "README.md lacks the settings table markers"
    assert table == settings_table(), (
        "README's settings table is stale: run .venv/bin/python -m wagedispute.dev.settings_table"
    )


def test_every_setting_appears_in_the_readme_table():
    _, _, rest = README.partition(README_BEGIN)
    table = rest.partition(README_END)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {re.match(r"\| `(?:WAGEDISPUTE_)?([A-Z0-9_]+)`", row).group(1) for row in rows}
    assert documented == SETTING_NAMES


def test_every_setting_declares_an_example_that_differs_from_its_default():
    for name, field in Settings.model_fields.items():
        assert field.examples, f"{name} has no example"
        assert field.description, f"{name} has no description"
        parsed = Settings(**{name: field.examples[0]}, **companions(name)).model_dump()[name]
        assert parsed != field.default, f"{name}'s example equals its default"


# Every WAGEDISPUTE_* variable the README names, except those the test suite itself reads.
README_VARIABLES = sorted(
    set(re.findall(r"\bWAGEDISPUTE_[A-Z0-9_]*[A-Z0-9]", README)) - HARNESS_VARIABLES
)


def test_the_readme_names_variables():
    assert len(README_VARIABLES) >= len(SETTING_NAMES)


@pytest.mark.parametrize("variable", README_VARIABLES)
def test_every_variable_the_readme_names_changes_the_setting_it_names(monkeypatch, variable):
    name = variable.removeprefix(ENV_PREFIX)
    assert name in SETTING_NAMES, f"README names {variable}, which no setting reads"
    assert variable in variable_names(name)
    example = Settings.model_fields[name].examples[0]
    expected = Settings(**{name: example}, **companions(name)).model_dump()[name]
    before = load_settings()[name]
    for other, value in companions(name).items():
        monkeypatch.setenv(ENV_PREFIX + other, as_environment_text(value))
    monkeypatch.setenv(variable, as_environment_text(example))
    after = load_settings()[name]
    assert after == expected
    assert after != before
