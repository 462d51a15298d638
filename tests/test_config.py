"""Settings come from class defaults, then WAGEDISPUTE_* variables, then explicit overrides."""

from wagedispute.platform.config import Config, load_settings


def test_environment_overrides_defaults_with_the_default_type():
    settings = load_settings(
        environ={"WAGEDISPUTE_REDIS_URL": "redis://h:1/2", "WAGEDISPUTE_TOKEN_TTL_SECONDS": "60"}
    )
    assert settings["REDIS_URL"] == "redis://h:1/2"
    assert settings["TOKEN_TTL_SECONDS"] == 60
    assert settings["DATABASE_URL"] is None


def test_explicit_mapping_wins_over_environment():
    settings = load_settings(
        {"REDIS_URL": "redis://x/0"}, environ={"WAGEDISPUTE_REDIS_URL": "redis://y/0"}
    )
    assert settings["REDIS_URL"] == "redis://x/0"


def test_unprefixed_variables_are_ignored():
    settings = load_settings(environ={"REDIS_URL": "redis://elsewhere/0"})
    assert settings["REDIS_URL"] == Config.REDIS_URL


def test_default_database_is_sqlite_under_instance(tmp_path, monkeypatch):
    from handlers import create_web_app
    from tests.conftest import dispose

    for name in ("WAGEDISPUTE_DATABASE_URL", "WAGEDISPUTE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = create_web_app({"SECRET_KEY": None})
    try:
        uri = app.config["SQLALCHEMY_DATABASE_URI"]
        assert uri.startswith("sqlite:///")
        assert uri.endswith("instance/wagedispute.sqlite3")
    finally:
        dispose(app)
