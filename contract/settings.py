"""The one settings object per process, and every environment variable named in one place.

Precedence: command-line flag > environment variable CRUMBLESS_<NAME> > TOML file
(`--config`, or CRUMBLESS_CONFIG) > default. Library code never reads os.environ: `main()`
builds Settings once and hands it down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import ConfigError

ENV_PREFIX = "CRUMBLESS_"
CONFIG_ENV = "CRUMBLESS_CONFIG"


def _meta(help_text: str, *, choices: tuple[str, ...] = (), low: float | None = None,
          high: float | None = None) -> dict[str, Any]:
    return {"help": help_text, "choices": choices, "low": low, "high": high}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tuning knob of crumbless, typed and frozen."""

    data_dir: Path = field(default=Path("./data"), metadata=_meta(
        "directory for the embedded ClickHouse (chdb), the event log and the salts"))
    clickhouse_dsn: str = field(default="", metadata=_meta(
        "ClickHouse DSN: chdb:///path (embedded) or http(s)://user:pass@host:8123; "
        "empty means chdb:///<data_dir>/clickhouse"))
    database: str = field(default="crumbless", metadata=_meta("ClickHouse database name"))
    host: str = field(default="127.0.0.1", metadata=_meta("address to listen on"))
    port: int = field(default=8000, metadata=_meta("port to listen on", low=1, high=65535))
    threads: int = field(default=8, metadata=_meta("request threads of the server", low=1,
                                                   high=256))
    max_connections: int = field(default=1000, metadata=_meta(
        "open client connections the server holds at most; more wait in the listen backlog",
        low=10, high=100_000))
    client_timeout: int = field(default=10, metadata=_meta(
        "seconds a connection may stay silent before it is closed", low=1, high=3600))
    request_timeout: int = field(default=30, metadata=_meta(
        "seconds a request's headers and body may take to arrive in full", low=1,
        high=3600))
    rate_limit_client: float = field(default=100.0, metadata=_meta(
        "requests per second one client (hashed IP, memory only) may send; 0: no limit",
        low=0, high=1_000_000))
    rate_limit_client_burst: int = field(default=1000, metadata=_meta(
        "requests one client may send at once before rate_limit_client applies", low=1,
        high=10_000_000))
    rate_limit_site: float = field(default=2000.0, metadata=_meta(
        "events per second one site may send; 0: no limit", low=0, high=10_000_000))
    rate_limit_site_burst: int = field(default=20_000, metadata=_meta(
        "events one site may send at once before rate_limit_site applies", low=1,
        high=100_000_000))
    rate_limit_max_keys: int = field(default=100_000, metadata=_meta(
        "clients and sites tracked for rate limits at most (least recent forgotten first)",
        low=100, high=10_000_000))
    transport: str = field(default="local", metadata=_meta(
        "how collectors reach processors: local (embedded event log) or kafka",
        choices=("local", "kafka")))
    kafka_bootstrap: str = field(default="127.0.0.1:9092", metadata=_meta(
        "Kafka bootstrap servers, comma-separated host:port"))
    kafka_topic: str = field(default="events.v1", metadata=_meta("Kafka topic for events"))
    kafka_dlq_topic: str = field(default="events.dlq.v1", metadata=_meta(
        "Kafka dead-letter topic for invalid events"))
    kafka_partitions: int = field(default=6, metadata=_meta(
        "partitions of the events topic when migrate creates it", low=1, high=1024))
    kafka_retention_hours: int = field(default=72, metadata=_meta(
        "hours Kafka keeps event records; never longer than raw_ttl_days", low=1,
        high=3650 * 24))
    kafka_session_timeout_ms: int = field(default=45_000, metadata=_meta(
        "how long the group waits for a silent processor before moving its partitions",
        low=6_000, high=300_000))
    kafka_group: str = field(default="crumbless-processors", metadata=_meta(
        "Kafka consumer group of the processors"))
    geoip_db: str = field(default="", metadata=_meta(
        "path to a MaxMind-format .mmdb (DB-IP Lite or GeoLite2 City/Country); empty: no geo"))
    trusted_proxies: tuple[str, ...] = field(default=(), metadata=_meta(
        "comma-separated IPs/CIDRs of reverse proxies whose forwarding header is believed"))
    proxy_header: str = field(default="x-forwarded-for", metadata=_meta(
        "the header the trusted proxies set: x-forwarded-for or forwarded (RFC 7239); "
        "only that one is read, so a client cannot slip in the other",
        choices=("x-forwarded-for", "forwarded")))
    max_body_bytes: int = field(default=16384, metadata=_meta(
        "largest accepted beacon body in bytes", low=256, high=1_048_576))
    k_anonymity: int = field(default=5, metadata=_meta(
        "every released number (row, total, time bucket) under this many visitors is withheld, "
        "and every filter value must cover this many (docs/privacy.md)", low=1, high=1000))
    dp_sites: tuple[str, ...] = field(default=(), metadata=_meta(
        "comma-separated sites whose API keys get differentially private answers"))
    dp_query_epsilon: float = field(default=0.5, metadata=_meta(
        "ε one differentially private answer costs (noise scale 2/ε)", low=0.01, high=10))
    dp_budget: float = field(default=5.0, metadata=_meta(
        "ε each API key or shared link may spend per site and UTC day", low=0.01, high=1000))
    raw_ttl_days: int = field(default=30, metadata=_meta(
        "days raw events are kept", low=1, high=3650))
    sessions_ttl_days: int = field(default=30, metadata=_meta(
        "days sessions are kept", low=1, high=3650))
    hourly_ttl_days: int = field(default=90, metadata=_meta(
        "days hourly rollups are kept", low=1, high=3650))
    daily_ttl_days: int = field(default=760, metadata=_meta(
        "days daily rollups are kept (760 ≈ 25 months)", low=1, high=3650))
    id_ttl_days: int = field(default=0, metadata=_meta(
        "days visitor and session ids are kept before they are zeroed (0: as long as the "
        "row)", low=0, high=3650))
    salt_grace_hours: int = field(default=2, metadata=_meta(
        "hours yesterday's salt is kept after midnight UTC to continue open visits",
        low=0, high=24))
    session_timeout_minutes: int = field(default=30, metadata=_meta(
        "inactivity after which a visit ends", low=1, high=240))
    batch_size: int = field(default=2000, metadata=_meta(
        "events per ClickHouse insert while the processor keeps up", low=1, high=1_000_000))
    max_batch_size: int = field(default=20_000, metadata=_meta(
        "events per ClickHouse insert when catching up on a backlog (batches grow from "
        "batch_size to this as the backlog grows; fewer, larger inserts)",
        low=1, high=1_000_000))
    batch_interval: float = field(default=0.5, metadata=_meta(
        "seconds a partial batch may wait before it is written (what a beacon waits at "
        "low traffic before it is counted; each partition writes at most this often)",
        low=0.01, high=60))
    log_durability: str = field(default="fsync", metadata=_meta(
        "fsync: an acknowledged event survives a power loss; flush: survives a process crash",
        choices=("fsync", "flush")))
    eventlog_roll_seconds: float = field(default=60.0, metadata=_meta(
        "seconds after which an event log segment rolls, so processed events leave the "
        "disk within about this long", low=0.1, high=3600))
    log_level: str = field(default="info", metadata=_meta(
        "what the server logs: debug adds a line per dropped event (site and reason only)",
        choices=("debug", "info", "warning", "error")))
    spool_max_bytes: int = field(default=1 << 30, metadata=_meta(
        "disk the local event log/spool may use before the collector answers 503",
        low=1 << 20, high=1 << 40))

    @property
    def dsn(self) -> str:
        """The ClickHouse DSN actually used."""
        return self.clickhouse_dsn or f"chdb://{self.data_dir.resolve()}/clickhouse"

    def validate(self) -> Settings:
        """Check cross-field rules and formats; raise ConfigError naming the setting."""
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta["choices"] and value not in meta["choices"]:
                raise ConfigError(f"{f.name}={value!r}: accepted values are "
                                  f"{', '.join(meta['choices'])}")
            if meta["low"] is not None and not meta["low"] <= value <= meta["high"]:
                raise ConfigError(f"{f.name}={value!r}: must be between {meta['low']} "
                                  f"and {meta['high']}")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(f"trusted_proxies: {proxy!r} is not an IP or CIDR") from exc
        if self.max_batch_size < self.batch_size:
            raise ConfigError(f"max_batch_size={self.max_batch_size} is below batch_size="
                              f"{self.batch_size}; it is the size batches grow to")
        if self.kafka_retention_hours > self.raw_ttl_days * 24:
            raise ConfigError(f"kafka_retention_hours={self.kafka_retention_hours} exceeds the "
                              f"raw-event TTL ({self.raw_ttl_days} days = "
                              f"{self.raw_ttl_days * 24} hours); Kafka must not keep events "
                              "longer than ClickHouse does")
        if not self.database.replace("_", "").isalnum():
            raise ConfigError("database: letters, digits and _ only")
        return self


SETTING_FIELDS: dict[str, dataclasses.Field[Any]] = {
    f.name: f for f in dataclasses.fields(Settings)
}


def env_name(setting: str) -> str:
    """The environment variable that sets `setting`."""
    return ENV_PREFIX + setting.upper()


def _coerce(name: str, value: Any) -> Any:
    """Turn a flag/env/TOML value into the setting's type, or raise ConfigError."""
    kind = SETTING_FIELDS[name].type
    try:
        if kind == "Path":
            return Path(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "tuple[str, ...]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(s.strip() for s in items if str(s).strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r}: expected {kind}") from exc


def load_settings(*, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                  config_file: Path | None = None) -> Settings:
    """Merge defaults, TOML file, environment and flags (highest wins) into Settings."""
    env = env or {}
    values: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        table = table.get("crumbless", table)
        for key, value in table.items():
            if key not in SETTING_FIELDS:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, value)
    for name in SETTING_FIELDS:
        if env_name(name) in env:
            values[name] = _coerce(name, env[env_name(name)])
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    return Settings(**values).validate()
