"""A private RabbitMQ node for tests that must stop and restart a broker: the machine's shared node
(5672) serves other test runs and is never touched. The node lives entirely under a temporary
directory (its own name, ports, mnesia, logs, Erlang cookie, no plugins); only epmd is shared."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from kombu import Connection  # type: ignore[attr-defined]

from tests.support.server import free_port
from tests.worker.helpers import wait_for

# The Debian /usr/sbin wrappers `su` to the rabbitmq user and use /var/lib/rabbitmq; the scripts
# they wrap honour the RABBITMQ_* environment for any user.
RABBIT_BIN = Path(os.environ.get("OPENHSS_TEST_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def require_rabbitmq_server() -> None:
    """Skip outside CI when RabbitMQ is not installed; in CI a missing server is a broken setup."""
    if (RABBIT_BIN / "rabbitmq-server").is_file() and shutil.which("erl"):
        return
    reason = f"rabbitmq-server is not installed ({RABBIT_BIN}/rabbitmq-server or erl missing)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


class PrivateRabbit:
    """One node that can be stopped and started again on the same data directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.node = f"openhss-{uuid.uuid4().hex[:12]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.proc: subprocess.Popen[bytes] | None = None
        for d in ("home", "mnesia", "log"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("")  # no management plugin: nothing binds 15672
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(base / "home"),  # the Erlang cookie shared by the node and rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        }

    def _accepts_amqp(self) -> bool:
        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.connect()
            return True
        except Exception:
            return False

    def start(self, timeout: float = 45) -> None:
        with (self.base / "server.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env,
                cwd=self.base,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(self._accepts_amqp, timeout, f"private RabbitMQ node {self.node}")
        except AssertionError:
            print((self.base / "server.out").read_text(errors="replace")[-4000:])
            raise

    def kill(self) -> None:
        """The node dies hard (SIGKILL to its process group): nothing is flushed on the way out."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)

    def stop(self) -> None:
        """A clean `rabbitmqctl stop` (which flushes the message store), then kill as a fallback."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            subprocess.run(
                [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "stop"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=40,
                check=False,
            )
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
