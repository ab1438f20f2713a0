from pathlib import Path

import pytest

from api.settings import Settings, SettingsError

SECRET = "s" * 32


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
            "PHOTOSURVEY_MODEL_PATH": "/models/m.tflite",
            "PHOTOSURVEY_PRELABEL_WORKER": "off",
            "PHOTOSURVEY_PRELABEL_BATCH": "8",
            "PHOTOSURVEY_SELECTION_POLICY": "random",
            "PHOTOSURVEY_UNCERTAINTY_MEASURE": "margin",
            "PHOTOSURVEY_EXPLORATION": "0.25",
            "PHOTOSURVEY_AUTO_ACCEPT": "0.97",
            "PHOTOSURVEY_CONSENSUS_TARGET": "0.9",
            "PHOTOSURVEY_ANSWER_CAP": "5",
            "PHOTOSURVEY_GOLD_RATE": "0.05",
            "PHOTOSURVEY_RELIABILITY_FLOOR": "0.3",
            "PHOTOSURVEY_LEASE_SECONDS": "120",
            "PHOTOSURVEY_MAX_UPLOAD_BYTES": "1048576",
            "PHOTOSURVEY_PHOTO_URL_SECONDS": "60",
            "PHOTOSURVEY_RANDOM_SEED": "42",
            "PHOTOSURVEY_INTROSPECTION": "off",
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
    assert settings.model_path == Path("/models/m.tflite")
    assert not settings.prelabel_worker
    assert settings.prelabel_batch == 8
    assert (settings.selection_policy, settings.uncertainty_measure) == ("random", "margin")
    assert (settings.exploration, settings.auto_accept) == (0.25, 0.97)
    assert (settings.consensus_target, settings.answer_cap) == (0.9, 5)
    assert (settings.gold_rate, settings.reliability_floor) == (0.05, 0.3)
    assert settings.lease_seconds == 120
    assert settings.random_seed == 42
    assert (settings.max_upload_bytes, settings.photo_url_seconds) == (1048576, 60)
    assert settings.introspection is False


def test_serving_in_production_needs_a_secret_key() -> None:
    with pytest.raises(SettingsError, match="PHOTOSURVEY_SECRET_KEY is required"):
        Settings.from_environ({}).check_can_serve()
    Settings.from_environ({"PHOTOSURVEY_ENV": "dev"}).check_can_serve()
    Settings.from_environ({"PHOTOSURVEY_SECRET_KEY": SECRET}).check_can_serve()


def test_auto_accept_can_be_switched_off() -> None:
    assert (
        Settings.from_environ(
            {"PHOTOSURVEY_AUTO_ACCEPT": "off", "PHOTOSURVEY_ENV": "dev"}
        ).auto_accept
        is None
    )


@pytest.mark.parametrize(
    ("environ", "allowed"),
    [
        ({"PHOTOSURVEY_ENV": "dev"}, True),
        ({"PHOTOSURVEY_ENV": "production"}, False),
        ({}, False),
        ({"PHOTOSURVEY_ENV": "production", "PHOTOSURVEY_INTROSPECTION": "on"}, True),
        ({"PHOTOSURVEY_ENV": "production", "PHOTOSURVEY_INTROSPECTION": " ON "}, True),
        ({"PHOTOSURVEY_ENV": "dev", "PHOTOSURVEY_INTROSPECTION": "off"}, False),
    ],
)
def test_introspection_is_on_in_dev_and_off_in_production_unless_set(
    environ: dict[str, str], allowed: bool
) -> None:
    assert Settings.from_environ(environ).allows_introspection is allowed


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
        ("PHOTOSURVEY_PORT", "", "not a whole number"),
        ("PHOTOSURVEY_ENV", "staging", "'dev', 'production'"),
        ("PHOTOSURVEY_ENV", "DEV", "'dev', 'production'"),
        ("PHOTOSURVEY_LOG_LEVEL", "loud", "'DEBUG'"),
        ("PHOTOSURVEY_MONGODB_URI", "localhost:27017", "mongodb://"),
        ("PHOTOSURVEY_MONGODB_URI", "  ", "is empty"),
        ("PHOTOSURVEY_MONGODB_URI", "mongodb://localhost:notaport", "Port contains non-digit"),
        ("PHOTOSURVEY_MONGODB_URI", "mongodb://db:99999", "between 0 and 65535"),
        ("PHOTOSURVEY_MONGODB_URI", "mongodb://", "at least one hostname"),
        ("PHOTOSURVEY_MONGODB_URI", "mongodb://db/?replicaSett=rs0", "Unknown option: replicaSett"),
        ("PHOTOSURVEY_MONGODB_URI", "mongodb://db/?tls=true&tlsCAFile=/no.pem", "not readable"),
        ("PHOTOSURVEY_DB_NAME", "my.db", "not a valid database name"),
        ("PHOTOSURVEY_DB_NAME", "x" * 64, "(it is 64 bytes); use at most 63 bytes in UTF-8"),
        ("PHOTOSURVEY_DB_NAME", "\u00e9" * 63, "(it is 126 bytes); use at most 63 bytes"),
        ("PHOTOSURVEY_DB_NAME", "admin", "MongoDB's own databases"),
        ("PHOTOSURVEY_DB_NAME", "survey\x07", "printable"),
        ("PHOTOSURVEY_PORT", "8_000", "not a whole number"),
        ("PHOTOSURVEY_PORT", "\u0668\u0660\u0660\u0660", "not a whole number"),  # Arabic 8000
        ("PHOTOSURVEY_DATA_DIR", "", "is empty"),
        ("PHOTOSURVEY_HOST", " ", "is empty"),
        ("PHOTOSURVEY_SECRET_KEY", "short", "at least 32"),
        ("PHOTOSURVEY_PRELABEL_WORKER", "yes", "'on' or 'off'"),
        ("PHOTOSURVEY_PRELABEL_BATCH", "0", "expected 1-1024"),
        ("PHOTOSURVEY_PRELABEL_BATCH", "many", "not a whole number"),
        ("PHOTOSURVEY_SELECTION_POLICY", "smart", "'uncertainty', 'random'"),
        ("PHOTOSURVEY_UNCERTAINTY_MEASURE", "variance", "'least_confidence'"),
        ("PHOTOSURVEY_EXPLORATION", "1.5", "expected 0.0-1.0"),
        ("PHOTOSURVEY_EXPLORATION", "lots", "not a number"),
        ("PHOTOSURVEY_EXPLORATION", "0_1", "not a number"),
        ("PHOTOSURVEY_EXPLORATION", "\uff11", "not a number"),  # a full-width 1
        ("PHOTOSURVEY_GOLD_RATE", "nan", "not a number"),
        ("PHOTOSURVEY_RANDOM_SEED", "9" * 5001, "not a whole number"),
        ("PHOTOSURVEY_AUTO_ACCEPT", "-0.1", "expected 0.0-1.0"),
        ("PHOTOSURVEY_ANSWER_CAP", "0", "expected 1-50"),
        ("PHOTOSURVEY_CONSENSUS_TARGET", "2", "expected 0.0-1.0"),
        ("PHOTOSURVEY_GOLD_RATE", "-1", "expected 0.0-1.0"),
        ("PHOTOSURVEY_RELIABILITY_FLOOR", "x", "not a number"),
        ("PHOTOSURVEY_RELIABILITY_FLOOR", "0.7", "every new contributor weigh nothing"),
        ("PHOTOSURVEY_LEASE_SECONDS", "5", "expected 10-86400"),
        ("PHOTOSURVEY_MAX_UPLOAD_BYTES", "10", "expected 1024-"),
        ("PHOTOSURVEY_PHOTO_URL_SECONDS", "1e9", "not a whole number"),
        ("PHOTOSURVEY_MODEL_PATH", "", "is empty"),
        ("PHOTOSURVEY_RANDOM_SEED", "-1", "out of range"),
        ("PHOTOSURVEY_INTROSPECTION", "yes", "'on' or 'off'"),
        ("PHOTOSURVEY_INTROSPECTION", "", "'on' or 'off'"),
        ("PHOTOSURVEY_INTROSPECTION", "1", "'on' or 'off'"),
    ],
)
def test_bad_value_names_the_variable_and_what_it_accepts(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        # dev, so that the missing production secret is not what fails
        Settings.from_environ({"PHOTOSURVEY_ENV": "dev", variable: value})
    message = str(caught.value)
    assert variable in message
    assert expected in message


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "var"
    afile.write_text("not a folder")
    with pytest.raises(SettingsError, match=r"PHOTOSURVEY_DATA_DIR=.* is a file; give a folder"):
        Settings.from_environ({"PHOTOSURVEY_ENV": "dev", "PHOTOSURVEY_DATA_DIR": str(afile)})


def test_a_data_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    with pytest.raises(SettingsError, match=r"cannot be made: .*afile is a file"):
        Settings.from_environ({"PHOTOSURVEY_DATA_DIR": str(afile / "var" / "sub")})


def test_a_host_this_machine_cannot_listen_on_stops_serving_not_the_tools() -> None:
    # .invalid never resolves (RFC 6761), whatever the machine's DNS.
    settings = Settings.from_environ({"PHOTOSURVEY_ENV": "dev", "PHOTOSURVEY_HOST": "no.invalid"})
    with pytest.raises(SettingsError, match=r"PHOTOSURVEY_HOST='no.invalid' is not an address"):
        settings.check_can_serve()
    Settings.from_environ(
        {"PHOTOSURVEY_ENV": "dev", "PHOTOSURVEY_HOST": "localhost"}
    ).check_can_serve()


def test_a_data_dir_the_os_refuses_to_look_at_is_refused_with_its_reason(tmp_path: Path) -> None:
    too_long = tmp_path / ("a" * 300)  # over the 255 bytes a file name may have
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({"PHOTOSURVEY_DATA_DIR": str(too_long / "var")})
    message = str(caught.value)
    assert message.startswith(f"PHOTOSURVEY_DATA_DIR={str(too_long / 'var')!r} cannot be used")
    assert message.endswith(": File name too long")


@pytest.mark.parametrize(
    ("uri", "option"),
    [
        ("mongodb://db/?tls=true&tlsCAFile={}", "tlsCAFile"),
        ("mongodb://db/?tls=true&tlsCRLFile={}", "tlsCRLFile"),
        ("mongodb+srv://db.example.com/?tlsCAFile={}", "tlsCAFile"),  # not looked up here
    ],
)
def test_a_tls_file_the_driver_cannot_use_is_refused_naming_it(
    tmp_path: Path, uri: str, option: str
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("root:x:0:0:root:/root:/bin/sh\n")
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({"PHOTOSURVEY_MONGODB_URI": uri.format(not_pem)})
    message = str(caught.value)
    assert message.startswith(
        "PHOTOSURVEY_MONGODB_URI names TLS files the driver cannot use "
        f"({option}={str(not_pem)!r}): "
    )
    assert "NO_CERTIFICATE_OR_CRL_FOUND" in message


@pytest.mark.parametrize("name", ["x" * 63, "\u00e9" * 31 + "x"])  # 63 bytes in UTF-8
def test_a_database_name_of_63_bytes_is_accepted(name: str) -> None:
    assert Settings.from_environ({"PHOTOSURVEY_DB_NAME": name}).db_name == name
