"""Start a real single-node Apache Kafka broker (KRaft) on loopback for tests and benchmarks.

The broker runs from the official jars on Maven Central, resolved once by Maven into a
cache folder; nothing is mocked and no container is involved. Typical use::

    with KafkaBroker(tmp_path / "kafka") as broker:
        broker.create_topic("events.v1", partitions=2)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)

`stop()` then `start()` keeps the data and the ports, so a test can simulate an outage.
The JVM is started in its own process group and is killed by the kernel if the Python
process (strictly: the thread) that started it dies, so no run leaves a broker behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

__all__ = ["KAFKA_VERSION", "KafkaBroker", "KafkaUnavailable", "kafka_classpath"]

# 4.4.0's kafka_2.13 pom is on Maven Central, but its kafka-tools-api:4.4.0 dependency is
# not, so 4.4.0 does not resolve; 4.3.1 is the newest 4.x whose runtime tree does.
KAFKA_VERSION = "4.3.1"
# Kafka 4.x logs through slf4j 1.7 into Log4j 2; the distribution ships the same trio.
_LOG4J_VERSION = "2.25.5"
# Pinned: Maven 3.8's default binding is the 2013-era 2.8 plugin.
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_MIN_JAVA = 17
_NODE_ID = 1
_MARKER = "classpath.txt"

_POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.crumbless</groupId>
  <artifactId>kafka-test-broker</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

# No shutdown hook: Kafka logs while it shuts down, after the hook would have stopped
# Log4j (lines then go to stderr via a fallback logger); the File appender flushes per line.
_LOG4J2_PROPERTIES = """\
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
"""


class KafkaUnavailable(RuntimeError):
    """The test broker cannot run here: a tool is missing, resolution or startup failed."""


def kafka_classpath(cache_dir: Path | None = None) -> list[Path]:
    """Return the jars that run `kafka.Kafka` and `kafka.tools.StorageTool`, resolving once.

    The first call asks Maven for `kafka_2.13:KAFKA_VERSION`, its runtime dependencies and
    a Log4j 2 binding, copied into `cache_dir/lib` (default
    `~/.cache/crumbless/kafka-<version>/`); a marker file listing the jars is written last,
    so later calls only read it. A file lock makes concurrent first calls resolve once.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    if (jars := _read_marker(cache_dir)) is not None:
        return jars
    mvn = _require_tool("mvn", "Maven 3.6+ (e.g. `apt-get install maven`)")
    _require_java()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_dir / ".lock"):
        if (jars := _read_marker(cache_dir)) is not None:
            return jars  # another process finished while we waited for the lock
        pom = cache_dir / "pom.xml"
        pom.write_text(_POM.format(kafka=KAFKA_VERSION, log4j=_LOG4J_VERSION))
        staging = Path(tempfile.mkdtemp(prefix="lib-", dir=cache_dir))
        try:
            _run_tool(
                [mvn, "-q", "-B", "-U", "-f", str(pom), f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
                 f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
                timeout=900,
            )
            lib = cache_dir / "lib"
            shutil.rmtree(lib, ignore_errors=True)  # left by a run killed before its marker
            staging.chmod(0o755)  # mkdtemp makes it private
            staging.rename(lib)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        names = sorted(p.name for p in lib.glob("*.jar"))
        tmp_marker = cache_dir / f".{_MARKER}.{os.getpid()}"
        tmp_marker.write_text("".join(f"{name}\n" for name in names))
        tmp_marker.replace(cache_dir / _MARKER)
        return [lib / name for name in names]


class KafkaBroker:
    """A single-node KRaft broker+controller on 127.0.0.1, data kept under `work_dir`."""

    def __init__(
        self,
        work_dir: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        extra_config: Mapping[str, str] | None = None,
        heap: str = "512m",
        cache_dir: Path | None = None,
    ) -> None:
        """Fix the ports now (free ones, or those of a broker already in work_dir) for good."""
        self.work_dir = Path(work_dir).resolve()
        self.log_dir = self.work_dir / "data"
        # The controller's endpoint is written into the quorum's voter set when storage is
        # formatted, so a work_dir that holds a broker keeps the ports it was formatted with.
        stored = self._stored_ports()
        if stored and (port or stored[0], controller_port or stored[1]) != stored:
            raise ValueError(f"{self.work_dir} holds a broker on ports {stored}; omit the ports")
        free = iter(_free_loopback_ports(2))
        port, controller_port = stored or (port, controller_port)
        self.port = port if port is not None else next(p for p in free if p != controller_port)
        self.controller_port = (
            controller_port if controller_port is not None
            else next(p for p in free if p != self.port)
        )
        self.log_file = self.work_dir / "broker.log"
        self._console_file = self.work_dir / "broker.out"
        self._extra_config = dict(extra_config or {})
        self._heap = heap
        self._cache_dir = cache_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The `host:port` a Kafka client bootstraps from."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker JVM's process id while one is started, else None."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the broker JVM started by this object is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 90) -> None:
        """Start the broker (formatting storage on first start) and wait until it serves.

        Raises KafkaUnavailable, with the tail of the broker's log, if the JVM exits early
        or does not answer metadata requests within `timeout` seconds.
        """
        if self.running:
            return
        self._reap()  # a JVM that died on its own since the last start
        deadline = time.monotonic() + timeout
        classpath = os.pathsep.join(str(jar) for jar in kafka_classpath(self._cache_dir))
        java = _require_java()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not self._formatted:
            _run_tool(
                [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                 *self._common_jvm_flags(), "-cp", classpath, "kafka.tools.StorageTool",
                 "format", "--config", str(self._config_file), "--cluster-id", _cluster_id(),
                 "--standalone"],
                timeout=max(deadline - time.monotonic(), 30),
            )
        self._console = self._console_file.open("ab")
        self._process = subprocess.Popen(
            [java, f"-Xms{self._heap}", f"-Xmx{self._heap}", "-XX:+UseSerialGC",
             "-XX:+ExitOnOutOfMemoryError", *self._common_jvm_flags(),
             "-cp", classpath, "kafka.Kafka", str(self._config_file)],
            stdin=subprocess.DEVNULL, stdout=self._console, stderr=subprocess.STDOUT,
            cwd=self.work_dir, start_new_session=True,
            # preexec_fn is unsafe with threads if it takes locks; this one only calls prctl.
            preexec_fn=_die_with_parent(os.getpid()),
        )
        try:
            self._wait_until_serving(deadline)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 30) -> None:
        """Shut the broker down cleanly (SIGTERM), escalating to SIGKILL after `timeout`."""
        if self._process is not None and self._process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), like a crash; the next start() recovers its log."""
        if self._process is not None and self._process.poll() is None:
            self._signal(signal.SIGKILL)
        self._reap()

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        with self._admin() as admin:
            admin.create_topics(
                {name: {"num_partitions": partitions, "replication_factor": 1,
                        "configs": dict(config or {})}},
                wait_for_metadata=True,
            )

    def __enter__(self) -> Self:
        """Start the broker for the duration of a `with` block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker, whatever happened inside the block."""
        self.stop()

    def __repr__(self) -> str:
        """Show where the broker listens and keeps its data."""
        return f"KafkaBroker(bootstrap={self.bootstrap!r}, work_dir={str(self.work_dir)!r})"

    @property
    def _config_file(self) -> Path:
        return self.work_dir / "server.properties"

    @property
    def _formatted(self) -> bool:
        return (self.log_dir / "meta.properties").exists()

    def _stored_ports(self) -> tuple[int, int] | None:
        """The (broker, controller) ports of a formatted broker in work_dir, if there is one."""
        if not (self._formatted and self._config_file.exists()):
            return None
        listeners = re.search(
            r"^listeners=PLAINTEXT://127\.0\.0\.1:(\d+),CONTROLLER://127\.0\.0\.1:(\d+)$",
            self._config_file.read_text(), re.MULTILINE,
        )
        return (int(listeners[1]), int(listeners[2])) if listeners else None

    def _common_jvm_flags(self) -> list[str]:
        return [
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
        ]

    def _write_config(self) -> None:
        """Write server.properties and the Log4j 2 config (each start: extra_config may change)."""
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        config = {
            "process.roles": "broker,controller",
            "node.id": str(_NODE_ID),
            # A dynamic (KIP-853) quorum, formatted with --standalone as Kafka 4.x documents.
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"{listener},{controller}",
            "advertised.listeners": f"{listener},{controller}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            # 50 partitions by default; one makes the first consumer group join fast.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Sized for a small shared machine (defaults: 3 network, 8 I/O threads).
            "num.network.threads": "2",
            "num.io.threads": "4",
            # After a kill() the restarted node cannot re-register until the old registration
            # times out (DuplicateBrokerRegistration): 9 s by default, 4 s here.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            **self._extra_config,
        }
        self._config_file.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        (self.work_dir / "log4j2.properties").write_text(
            _LOG4J2_PROPERTIES.format(log_file=self.log_file)
        )

    def _wait_until_serving(self, deadline: float) -> None:
        """Wait for the listener, then for metadata naming this node as an unfenced broker."""
        while not _accepts_connections("127.0.0.1", self.port):
            self._check_alive(deadline)
            time.sleep(0.2)
        while True:
            self._check_alive(deadline)
            remaining_ms = int(max(deadline - time.monotonic(), 1) * 1000)
            try:
                admin = self._admin(bootstrap_timeout_ms=min(remaining_ms, 10_000))
            except KafkaError:
                # The listener is bound before the broker answers; retry in slices so that
                # a JVM dying meanwhile is noticed (a failed client leaves an idle thread).
                time.sleep(0.2)
                continue
            with admin:
                while not self._lists_this_node(admin):
                    self._check_alive(deadline)
                    time.sleep(0.2)
                return

    def _admin(self, bootstrap_timeout_ms: int = 30_000) -> KafkaAdminClient:
        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="crumbless-test-harness",
            bootstrap_timeout_ms=bootstrap_timeout_ms,
        )

    @staticmethod
    def _lists_this_node(admin: KafkaAdminClient) -> bool:
        """True once metadata names this node; it lists only unfenced brokers (can lead)."""
        try:
            brokers = admin.describe_cluster()["brokers"]
        except KafkaError:
            return False
        return any(broker["broker_id"] == _NODE_ID for broker in brokers)

    def _check_alive(self, deadline: float) -> None:
        """Raise KafkaUnavailable if the JVM has exited or the start deadline has passed."""
        assert self._process is not None
        if (code := self._process.poll()) is not None:
            raise KafkaUnavailable(
                f"Kafka broker exited with code {code} during startup.\n{self._log_tail()}"
            )
        if time.monotonic() > deadline:
            raise KafkaUnavailable(
                f"Kafka broker at {self.bootstrap} did not answer metadata requests in time.\n"
                f"{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.log_file, self._console_file):
            if path.exists() and (tail := path.read_text(errors="replace").splitlines()[-lines:]):
                parts.append(f"--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no broker output under {self.work_dir})"

    def _signal(self, signum: signal.Signals) -> None:
        assert self._process is not None
        try:
            os.killpg(self._process.pid, signum)  # its own group: start_new_session=True
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None
        if self._console is not None:
            self._console.close()
            self._console = None


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "crumbless" / f"kafka-{KAFKA_VERSION}"


def _read_marker(cache_dir: Path) -> list[Path] | None:
    """Return the jars a completed resolution listed, or None if it is absent or damaged."""
    try:
        names = (cache_dir / _MARKER).read_text().split()
    except FileNotFoundError:
        return None
    jars = [cache_dir / "lib" / name for name in names]
    return jars if jars and all(jar.is_file() for jar in jars) else None


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_tool(name: str, what_to_install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise KafkaUnavailable(
            f"`{name}` was not found on PATH; the Kafka test broker needs {what_to_install}."
        )
    return path


@cache
def _require_java() -> str:
    """Return the `java` executable after checking that it is Java 17 or newer."""
    install = f"Java {_MIN_JAVA}+ (e.g. `apt-get install openjdk-{_MIN_JAVA}-jre-headless`)"
    java = _require_tool("java", install)
    output = _run_tool([java, "-version"], timeout=60)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        raise KafkaUnavailable(f"Cannot read the Java version from `{java} -version`:\n{output}")
    major = int(match[1]) if match[1] != "1" else int(match[2] or 0)  # "1.8.0" is Java 8
    if major < _MIN_JAVA:
        raise KafkaUnavailable(f"{java} is Java {major}; the Kafka test broker needs {install}.")
    return java


def _run_tool(argv: list[str], *, timeout: float) -> str:
    """Run a command, returning its combined output or raising KafkaUnavailable with its tail."""
    command = _describe(argv)
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaUnavailable(f"`{command}` did not finish within {timeout:.0f} s") from exc
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise KafkaUnavailable(f"`{command}` failed with exit code {done.returncode}:\n{tail}")
    return output


def _describe(argv: list[str]) -> str:
    """The command line for a message, with a long `-cp` value shortened to its jar count."""
    shown = [
        f"<{arg.count(os.pathsep) + 1} jars>" if previous == "-cp" else arg
        for previous, arg in zip(["", *argv], argv, strict=False)
    ]
    return " ".join(shown)


def _cluster_id() -> str:
    """A random cluster id in Kafka's format: 16 random bytes, URL-safe base64, unpadded."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # Kafka avoids these too: they read as CLI flags
            return cluster_id


def _free_loopback_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free ports on 127.0.0.1 (held open together)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """Build a preexec_fn asking Linux to SIGKILL the child when its parent thread dies."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork: no loader lock

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
