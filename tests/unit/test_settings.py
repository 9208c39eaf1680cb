"""Settings: flag > environment > TOML > default, and bad values name the setting."""

from pathlib import Path

import pytest

from contract.errors import ConfigError
from contract.settings import Settings, load_settings


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings()
    assert (s.port, s.k_anonymity, s.raw_ttl_days, s.max_body_bytes) == (8000, 5, 30, 16384)


def test_precedence_is_flag_then_env_then_toml(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("port = 7000\nk_anonymity = 9\nraw_ttl_days = 10\n")
    s = load_settings(flags={"port": "9000"},
                      env={"CRUMBLESS_PORT": "8001", "CRUMBLESS_K_ANONYMITY": "7"},
                      config_file=toml)
    assert (s.port, s.k_anonymity, s.raw_ttl_days) == (9000, 7, 10)


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("[crumbless]\ntrusted_proxies = ['10.0.0.0/8']\n")
    s = load_settings(env={"CRUMBLESS_CONFIG": str(toml)})
    assert s.trusted_proxies == ("10.0.0.0/8",)


@pytest.mark.parametrize(("env", "message"), [
    ({"CRUMBLESS_PORT": "http"}, "port"),
    ({"CRUMBLESS_PORT": "70000"}, "port=70000: must be between"),
    ({"CRUMBLESS_TRANSPORT": "pigeon"}, "transport='pigeon': accepted values are local, kafka"),
    ({"CRUMBLESS_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"}, "trusted_proxies"),
    ({"CRUMBLESS_DATABASE": "x; DROP"}, "database"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(env=env)


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config_file=toml)


def test_embedded_dsn_is_under_the_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).dsn == f"chdb://{tmp_path}/clickhouse"
