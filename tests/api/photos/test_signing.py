import dataclasses
from pathlib import Path

import pytest

from api.photos.signing import (
    SignatureCheck,
    check_signature,
    expiry,
    load_secret_key,
    sign,
)
from api.settings import Settings, SettingsError

KEY = b"k" * 32


def test_dev_generates_one_key_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(env="dev", data_dir=tmp_path / "var")
    first = load_secret_key(settings)
    second = load_secret_key(dataclasses.replace(settings))

    assert first == second
    assert len(first) >= 32
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text().strip().encode() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only
    assert [path.name for path in key_file.parent.iterdir()] == ["secret_key"]


def test_a_dev_key_that_cannot_be_read_or_written_is_a_settings_error(tmp_path: Path) -> None:
    (tmp_path / "var" / "secret_key").mkdir(parents=True)  # a folder where the key belongs
    with pytest.raises(SettingsError, match=r"cannot read or write the dev signing key .*"):
        load_secret_key(Settings(env="dev", data_dir=tmp_path / "var"))


def test_production_uses_the_configured_key(tmp_path: Path) -> None:
    secret = "s" * 40
    settings = Settings.from_environ(
        {"PHOTOSURVEY_SECRET_KEY": secret, "PHOTOSURVEY_DATA_DIR": str(tmp_path)}
    )

    assert load_secret_key(settings) == secret.encode()
    assert not (tmp_path / "secret_key").exists()


def test_production_without_a_key_signs_nothing() -> None:
    settings = Settings.from_environ({})
    with pytest.raises(SettingsError, match="SECRET_KEY is required"):
        settings.check_can_serve()
    with pytest.raises(SettingsError, match="SECRET_KEY is required"):
        load_secret_key(settings)


def test_a_signature_binds_photo_size_and_expiry() -> None:
    sig = sign("a" * 24, size="small", expires=2000, key=KEY)

    def check(photo_id: str = "a" * 24, *, size: str = "small", expires: str = "2000") -> object:
        return check_signature(
            photo_id,
            size=size,
            expires=expires,
            sig=sig,
            key=KEY,
            now=1000,  # type: ignore[arg-type]
        )

    assert check() is SignatureCheck.VALID
    assert check("b" * 24) is SignatureCheck.INVALID
    assert check(size="original") is SignatureCheck.INVALID
    assert check(expires="2001") is SignatureCheck.INVALID
    assert check(expires="-1") is SignatureCheck.INVALID
    assert check(expires="²") is SignatureCheck.INVALID  # a digit to str.isdigit, not to int()
    assert check(expires="9" * 5000) is SignatureCheck.INVALID  # beyond int()'s digit limit
    assert check_signature("a" * 24, size="small", expires="2000", sig=sig, key=KEY, now=2001) is (
        SignatureCheck.EXPIRED
    )
    assert check_signature("a" * 24, size="small", expires=None, sig=None, key=KEY) is (
        SignatureCheck.MISSING
    )


def test_expiry_is_at_least_the_lifetime_and_shared_for_a_while() -> None:
    assert expiry(1000.0, seconds=3600) >= 4600
    assert expiry(1000.0, seconds=3600) == expiry(1100.0, seconds=3600)
