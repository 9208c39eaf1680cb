"""docker-compose.yml and the Dockerfile agree with the settings and commands the app reads.

No Docker engine runs here, so the compose file is parsed and checked, not started.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from contract.settings import SETTING_FIELDS, env_name, load_settings
from crumbless.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services(compose: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in compose["services"].items() if "build" in s}


def test_the_stack_has_every_role_on_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    commands = {s["command"][0] for s in app_services(compose).values()}
    assert commands == {"collector", "processor", "dashboard", "migrate"}


def test_app_commands_are_real_cli_commands(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for service in app_services(compose).values():
        args = parser.parse_args(service["command"])
        assert args.command == service["command"][0]


def test_every_environment_variable_is_a_setting_and_the_values_validate(
        compose: dict[str, Any]) -> None:
    known = {env_name(name) for name in SETTING_FIELDS}
    for name, service in app_services(compose).items():
        env = {k: str(v) for k, v in service["environment"].items()}
        assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
        settings = load_settings(env=env)  # raises ConfigError on a bad value or combination
        assert settings.transport == "kafka"
        assert settings.kafka_retention_hours <= settings.raw_ttl_days * 24


def test_bootstrap_dsn_and_ports_point_at_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka_env = services["kafka"]["environment"]
    ch_env = services["clickhouse"]["environment"]
    for name, service in app_services(compose).items():
        settings = load_settings(env={k: str(v) for k, v in service["environment"].items()})
        host, port = settings.kafka_bootstrap.split(":")
        assert host in services and f"PLAINTEXT://{host}:{port}" in kafka_env[
            "KAFKA_ADVERTISED_LISTENERS"], name
        dsn = urlsplit(settings.clickhouse_dsn)
        assert dsn.hostname in services and dsn.port == 8123, name
        assert (dsn.username, dsn.password) == (ch_env["CLICKHOUSE_USER"],
                                                ch_env["CLICKHOUSE_PASSWORD"]), name
        for mapping in service.get("ports", []):
            assert mapping.split(":")[-1] == str(settings.port), name


def test_stateful_services_have_health_checks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "clickhouse", "collector", "dashboard"):
        assert "healthcheck" in services[name], name
    declared = set(compose["volumes"])
    for name in ("kafka", "clickhouse", "collector"):
        for volume in services[name]["volumes"]:
            assert volume.split(":")[0] in declared, name


def test_dockerfile_copies_every_package_and_installs_pinned() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]]
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert set(packages) <= copied
    assert "-c constraints.txt" in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.MULTILINE)
