from pathlib import Path

import pytest

from api.settings import Settings, SettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert settings.mongodb_uri is None
    assert settings.uses_embedded_database
    assert settings.env == "production"
    assert settings.data_dir == Path("var")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_reads_every_prefixed_variable() -> None:
    settings = Settings.from_environ(
        {
            "PHOTOSURVEY_MONGODB_URI": "mongodb://db.example:27017/?replicaSet=rs0",
            "PHOTOSURVEY_DB_NAME": "survey",
            "PHOTOSURVEY_DATA_DIR": "/srv/photosurvey",
            "PHOTOSURVEY_HOST": "0.0.0.0",
            "PHOTOSURVEY_PORT": "9000",
            "PHOTOSURVEY_ENV": "dev",
            "PHOTOSURVEY_LOG_LEVEL": "DEBUG",
            "UNRELATED": "ignored",
        }
    )
    assert settings.mongodb_uri == "mongodb://db.example:27017/?replicaSet=rs0"
    assert not settings.uses_embedded_database
    assert settings.db_name == "survey"
    assert settings.data_dir == Path("/srv/photosurvey")
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.is_dev
    assert settings.log_level == "DEBUG"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PHOTOSURVEY_PORT", "abc", "expected 1-65535"),
        ("PHOTOSURVEY_PORT", "0", "out of range"),
        ("PHOTOSURVEY_PORT", "70000", "out of range"),
        ("PHOTOSURVEY_PORT", "", "not a port number"),
        ("PHOTOSURVEY_ENV", "staging", "'dev', 'production'"),
        ("PHOTOSURVEY_ENV", "DEV", "'dev', 'production'"),
        ("PHOTOSURVEY_LOG_LEVEL", "loud", "'DEBUG'"),
        ("PHOTOSURVEY_MONGODB_URI", "localhost:27017", "mongodb://"),
        ("PHOTOSURVEY_MONGODB_URI", "  ", "is empty"),
        ("PHOTOSURVEY_DB_NAME", "my.db", "not a valid database name"),
        ("PHOTOSURVEY_DB_NAME", "x" * 64, "at most 63"),
        ("PHOTOSURVEY_DATA_DIR", "", "is empty"),
        ("PHOTOSURVEY_HOST", " ", "is empty"),
    ],
)
def test_bad_value_names_the_variable_and_what_it_accepts(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({variable: value})
    message = str(caught.value)
    assert variable in message
    assert expected in message
