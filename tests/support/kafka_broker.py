"""The test session's Kafka-protocol broker and the client settings its kind needs."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BrokerKind = Literal["apache", "tansu"]


@dataclass
class KafkaInfo:
    """Where the broker is, what it is, and how clients must be tuned for it."""

    bootstrap_servers: str
    kind: BrokerKind
    managed: bool
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def supports_idempotence(self) -> bool:
        return self.kind == "apache"

    @property
    def supports_transactions(self) -> bool:
        """aiokafka's transactional producers need Apache Kafka (Tansu refuses their InitProducerId)."""
        return self.kind == "apache"

    def env(self) -> dict[str, str]:
        """Environment for service processes (``HORDE_KAFKA__*``)."""
        env = {
            "HORDE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "HORDE_KAFKA__ENABLE_IDEMPOTENCE": "true" if self.supports_idempotence else "false",
            "HORDE_KAFKA__TRANSACTIONS": "true" if self.supports_transactions else "false",
        }
        if self.kind == "tansu":
            # Tansu holds JoinGroup for session_timeout/2: short timeouts keep rebalances fast.
            return env | {
                "HORDE_KAFKA__SESSION_TIMEOUT_MS": "2000",
                "HORDE_KAFKA__HEARTBEAT_INTERVAL_MS": "200",
                "HORDE_KAFKA__REBALANCE_TIMEOUT_MS": "2000",
            }
        # Apache Kafka refuses sessions below group.min.session.timeout.ms (6 s).
        return env | {
            "HORDE_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "HORDE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "HORDE_KAFKA__REBALANCE_TIMEOUT_MS": "6000",
        }


def docker_available() -> bool:
    """True when a Docker engine answers (testcontainers can run)."""
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def external_kind() -> BrokerKind:
    """Kind of an external broker: ``KAFKA_BROKER_KIND`` or Apache Kafka."""
    return "tansu" if os.environ.get("KAFKA_BROKER_KIND") == "tansu" else "apache"
