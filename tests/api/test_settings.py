from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import DEV_SECRET_KEY, SettingsError, load_settings

GOOD_SECRET = "x" * 40
SAFE_PRODUCTION = {
    "environment": "production",
    "secret_key": GOOD_SECRET,
    "database_url": "postgres://u@db:5432/pulse",
    "redis_url": "redis://cache:6379/0",
    "cors_origins": "https://app.example",
    "smtp_url": "smtp://mail.example:25",
}


def test_development_defaults_are_usable() -> None:
    settings = load_settings(_env_file=None, environment="development")
    assert settings.database_dsn.startswith("postgres://")
    assert settings.redis_dsn.startswith("redis://")
    assert settings.signing_keys == [("primary", DEV_SECRET_KEY)]
    assert "*" not in settings.cors_origins
    assert settings.json_logs is False


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "ENVIRONMENT",
            "prod",
            "ENVIRONMENT: Input should be 'development', 'test' or 'production'",
        ),
        ("DATABASE_URL", "mysql://root@db/pulse", "DATABASE_URL: expected postgres://"),
        ("DATABASE_URL", "postgres://db:5432", "DATABASE_URL: expected postgres://"),
        ("DATABASE_READ_URL", "http://replica", "DATABASE_READ_URL: expected postgres://"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected redis://"),
        ("JWT_KEYS", "no-equals-sign", "JWT_KEYS: expected comma-separated kid=secret pairs"),
        ("JWT_KEYS", "a=1,a=2", "JWT_KEYS: key ids must be unique"),
        ("CORS_ORIGINS", "app.example", "CORS_ORIGINS: expected comma-separated origins"),
        ("SMTP_URL", "mail.example:25", "SMTP_URL: expected smtp://"),
        ("PUBLIC_URL", "example.com", "PUBLIC_URL: expected an absolute http(s):// URL"),
        ("DB_POOL_MAX", "lots", "DB_POOL_MAX: Input should be a valid integer"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: Input should be"),
    ],
)
def test_malformed_values_fail_fast_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    assert expected in str(raised.value)
    assert repr(value) in str(raised.value)


def test_unknown_key_in_env_file_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ENVIRONMNET=production\n")
    with pytest.raises(SettingsError, match="ENVIRONMNET: Extra inputs are not permitted"):
        load_settings(_env_file=env_file)


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PUBLIC_URL=https://pulse.example/\n")
    assert load_settings(_env_file=env_file).public_url == "https://pulse.example"


def test_postgresql_scheme_is_normalised() -> None:
    settings = load_settings(_env_file=None, database_url="postgresql://u:p@h:5/d")
    assert settings.database_dsn == "postgres://u:p@h:5/d"


def test_jwt_keys_keep_their_order_current_first() -> None:
    settings = load_settings(_env_file=None, jwt_keys=f"new={GOOD_SECRET}1, old={GOOD_SECRET}2")
    assert settings.signing_keys == [("new", GOOD_SECRET + "1"), ("old", GOOD_SECRET + "2")]


def test_safe_production_configuration_has_no_static_problems() -> None:
    assert load_settings(_env_file=None, **SAFE_PRODUCTION).static_problems() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"secret_key": None}, "SECRET_KEY or JWT_KEYS must be set"),
        ({"secret_key": DEV_SECRET_KEY}, "SECRET_KEY is a known default value"),
        ({"secret_key": "changeme"}, "SECRET_KEY is a known default value"),
        ({"secret_key": "short-secret"}, "SECRET_KEY is shorter than 32 bytes"),
        ({"secret_key": None, "jwt_keys": "k1=tooshort"}, "JWT_KEYS[k1] is shorter than 32 bytes"),
        ({"cors_origins": "https://app.example,*"}, "CORS_ORIGINS must list origins explicitly"),
        ({"redis_url": None}, "REDIS_URL must be set"),
        ({"database_url": None}, "DATABASE_URL must be set"),
        ({"smtp_url": None}, "SMTP_URL must be set"),
    ],
)
def test_each_unsafe_production_value_is_named(change: dict[str, str | None], problem: str) -> None:
    values = {**SAFE_PRODUCTION, **change}
    settings = load_settings(_env_file=None, **values)
    assert any(problem in found for found in settings.static_problems()), settings.static_problems()
