"""Configuration from the environment, and the README's table of it (pure)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from service.config import Config, ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_without_environment() -> None:
    """With no variables the service listens on loopback and embeds its database."""
    config = Config.from_env({"HOME": "/home/u"})
    assert config.listen == "127.0.0.1:50051"
    assert config.database_url == ""
    assert config.data_dir == Path("/home/u/.local/share/emailstore")
    assert config.zstd_level == 3
    assert config.max_attachment_bytes == 25 * 1024 * 1024


def test_variables_are_parsed_by_type() -> None:
    """Each EMAILSTORE_* variable is parsed to its field's type."""
    config = Config.from_env(
        {
            "EMAILSTORE_LISTEN": "0.0.0.0:6000",
            "EMAILSTORE_ZSTD_LEVEL": "7",
            "EMAILSTORE_SHUTDOWN_GRACE_S": "2.5",
            "EMAILSTORE_MIGRATE_ON_START": "false",
            "EMAILSTORE_DATA_DIR": "/srv/es",
        }
    )
    assert (config.listen, config.zstd_level, config.shutdown_grace_s) == ("0.0.0.0:6000", 7, 2.5)
    assert config.migrate_on_start is False
    assert config.data_dir == Path("/srv/es")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAILSTORE_ZSTD_LEVEL", "fast"),
        ("EMAILSTORE_ZSTD_LEVEL", "40"),
        ("EMAILSTORE_LISTEN", "50051"),
        ("EMAILSTORE_MIGRATE_ON_START", "maybe"),
        ("EMAILSTORE_DB_POOL_MIN_SIZE", "50"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """A bad value raises ConfigError naming what is wrong."""
    with pytest.raises(ConfigError, match=name.removeprefix("EMAILSTORE_").split("_")[0]):
        Config.from_env({name: value})


def test_readme_documents_every_variable() -> None:
    """The README's configuration table lists every EMAILSTORE_* variable, and no others."""
    documented = set(re.findall(r"^\| `(EMAILSTORE_[A-Z0-9_]+)` \|", README.read_text(), re.M))
    expected = {f"EMAILSTORE_{f.name.upper()}" for f in dataclasses.fields(Config)}
    assert documented == expected
