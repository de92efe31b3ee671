"""Typed settings for every service: one env prefix (``HORDE_``), nested groups joined by ``__``.

Settings are read once in each service's ``main`` (never at import time) and passed down as
values, so tests build them explicitly. Every knob has a docstring: the README's configuration
table and the deployment manifests are checked against this model by tests.
"""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.categories import ModelCategory
from shared.domain.history.policy import LifecyclePolicy
from shared.domain.risk.thresholds import RiskThresholds


def _both_model_types() -> list[Literal["image", "text"]]:
    return ["image", "text"]


class KafkaSettings(BaseModel):
    """How to reach the Kafka-protocol broker and how to size and pace the clients."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated ``host:port`` list of brokers."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """Transport security towards the brokers."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    """SASL mechanism when the protocol is SASL_*."""
    sasl_username: str = ""
    """SASL user name (from a Secret in production)."""
    sasl_password: SecretStr = SecretStr("")
    """SASL password (from a Secret in production)."""
    ssl_cafile: str = ""
    """CA bundle that signs the brokers' certificates, for SSL and SASL_SSL."""
    enable_idempotence: bool = True
    """Idempotent producer; the embedded test broker lacks it, so local runs turn it off."""
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest record we produce or fetch (producer max_request_size, consumer fetch sizes, topic limit)."""
    session_timeout_ms: int = 10_000
    """Consumer-group session timeout: how fast a dead analytics worker's categories move to another."""
    heartbeat_interval_ms: int = 3_000
    """Consumer-group heartbeat interval (must be well below the session timeout)."""
    rebalance_timeout_ms: int = 10_000
    """Time a member is given to rejoin during a rebalance."""
    topic_partitions: int = 4
    """Partitions of every topic we create; analytics replicas beyond this number stay idle."""
    replication_factor: int = 1
    """Replication factor of the topics we create (3 in production)."""
    topic_prefix: str = ""
    """Prefix of every topic name (lets several deployments or test runs share one cluster)."""
    create_topics: bool = True
    """Create missing topics at start-up with our partitions, compaction and size limits."""
    transactions: bool = True
    """Risk events go out in Kafka transactions, one transactional id per category partition, so a
    paused worker's late writes are fenced off by Kafka and our consumers read committed records
    only; the embedded test broker lacks transactions, so local runs turn it off."""
    partition_refresh_seconds: float = Field(default=30.0, gt=0)
    """How often clients re-read topic metadata: producers and consumers follow grown partitions within it."""


class RedisSettings(BaseModel):
    """Where the materialised views live."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    url: str = "redis://127.0.0.1:6379/0"
    """Redis URL; ``rediss://`` enables TLS."""
    password: SecretStr = SecretStr("")
    """Redis AUTH password, if not in the URL (from a Secret in production)."""
    key_prefix: str = "hma"
    """Prefix of every key we write, so several deployments can share one Redis."""
    generation_ttl_seconds: int = 900
    """How long a superseded view generation stays readable for requests already in flight."""
    socket_timeout_seconds: float = 5.0
    """Gateway: longest wait for a Redis reply or a free connection (stream readers add their block)."""


class HordeApiSettings(BaseModel):
    """The AI Horde public API and our etiquette towards it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    base_url: str = "https://aihorde.net/api"
    """Base URL of the AI Horde API (without ``/v2``)."""
    client_name: str = "horde-model-analytics"
    """First part of the ``Client-Agent`` header."""
    contact: str = ""
    """Contact part of ``Client-Agent`` (e-mail or Discord handle of the operator); required (the poller
    refuses to start without one) when ``base_url`` is the live AI Horde."""
    api_key: SecretStr = SecretStr("")
    """Optional AI Horde API key (only from a Secret; never logged). Not needed for public data."""
    timeout_seconds: float = 30.0
    """Per-request timeout."""
    status_interval_seconds: float = 20.0
    """Period of ``/v2/status/models`` polls per model type."""
    workers_interval_seconds: float = 120.0
    """Period of ``/v2/workers`` polls per model type."""
    stats_interval_seconds: float = 1800.0
    """Period of ``/v2/stats/{img,text}/models`` polls (the data changes once a day)."""
    max_requests_per_minute: int = 30
    """Hard budget for all our requests together (the Horde allows 90 per minute per IP)."""
    max_attempts: int = 4
    """Attempts per request before the poll is reported as failed."""
    model_types: list[Literal["image", "text"]] = Field(default_factory=_both_model_types)
    """Model types to poll."""


#: Hosts of the real AI Horde: polling them needs an operator contact (LiveHordeApiSettings).
LIVE_HORDE_HOSTS = ("aihorde.net",)
#: Contacts that name nobody.
_NO_CONTACT = {"", "unknown", "none", "anonymous"}


def polls_live_horde(base_url: str) -> bool:
    """Whether ``base_url`` is the real AI Horde (or a subdomain of it), not a stand-in."""
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == live or host.endswith("." + live) for live in LIVE_HORDE_HOSTS)


class LiveHordeApiSettings(HordeApiSettings):
    """The AI Horde settings as the poller accepts them: the live AI Horde is only called with a
    contact that names the operator (the ``Client-Agent`` etiquette), so a forgotten
    ``HORDE_HORDE_API__CONTACT`` stops the poller at start instead of calling it as ``unknown``."""

    @model_validator(mode="after")
    def _contact_for_live_horde(self) -> Self:
        if polls_live_horde(self.base_url) and self.contact.strip().lower() in _NO_CONTACT:
            raise ValueError(
                f"HORDE_HORDE_API__CONTACT is {self.contact!r}: set it to your e-mail address or Discord "
                f"handle before polling the live AI Horde at {self.base_url} (it identifies who runs "
                "this poller); for offline runs point HORDE_HORDE_API__BASE_URL at the stand-in"
            )
        return self


#: Categories the public reference repositories and service publish (the default watch list).
WATCHED_CATEGORIES: tuple[ModelCategory, ...] = (
    ModelCategory.IMAGE_GENERATION,
    ModelCategory.TEXT_GENERATION,
    ModelCategory.BLIP,
    ModelCategory.CLIP,
    ModelCategory.CODEFORMER,
    ModelCategory.CONTROLNET,
    ModelCategory.ESRGAN,
    ModelCategory.GFPGAN,
    ModelCategory.SAFETY_CHECKER,
    ModelCategory.MISCELLANEOUS,
    ModelCategory.LORA,
)


class ReferenceSettings(BaseModel):
    """Where the model reference comes from and how changes are guarded."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    source: Literal["folder", "github", "v2_api"] = "github"
    """Reference source: a local folder, the public GitHub legacy files, or the reference service's v2 API."""
    folder: str = "tests/fixtures/data/reference"
    """Folder with ``image/`` and ``text/`` legacy files (source ``folder``)."""
    github_image_base_url: str = (
        "https://raw.githubusercontent.com/Haidra-Org/AI-Horde-image-model-reference/main"
    )
    """Base URL of the image reference files (source ``github``)."""
    github_text_base_url: str = (
        "https://raw.githubusercontent.com/Haidra-Org/AI-Horde-text-model-reference/main"
    )
    """Base URL of the text reference files (source ``github``)."""
    v2_api_base_url: str = "https://models.aihorde.net/api"
    """Base URL of the reference service (source ``v2_api``)."""
    poll_interval_seconds: float = 300.0
    """How often the watcher looks for a new reference version."""
    max_removed_share: float = 0.2
    """A change removing more than this share of a category is held and reported, not published."""
    confirmed_versions: list[str] = Field(default_factory=list)
    """Held changes to publish anyway, as ``<category>:<version>`` (the id the hold is logged with)."""
    categories: list[ModelCategory] = Field(default_factory=lambda: list(WATCHED_CATEGORIES))
    """Categories fetched from ``github`` and ``v2_api`` (a ``folder`` publishes whatever files it holds)."""
    folder_layout: Literal["auto", "legacy", "v2"] = "auto"
    """Folder layout: ``legacy`` = ``image/*.json`` + ``text/models.csv`` (else ``text/db.json``);
    ``v2`` = ``<category>.json``; ``auto`` = legacy when ``image/`` or ``text/`` exists."""
    v2_use_last_updated: bool = True
    """Ask the v2 API's ``metadata/{category}/last_updated`` first and skip unchanged categories."""
    http_timeout_seconds: float = 30.0
    """Per-request timeout towards GitHub or the reference service."""
    max_attempts: int = 4
    """Attempts per reference request before the category's poll is reported as failed."""
    startup_timeout_seconds: float = 60.0
    """Bound on rebuilding the published state from the reference topic at start-up."""
    styles_source: Literal["auto", "off", "folder", "github"] = "auto"
    """AI Horde styles (impact of removals): ``folder``, ``github`` (raw files with ETag), ``off``;
    ``auto`` = ``folder`` when the reference source is ``folder``, else ``github``."""
    styles_folder: str = "tests/fixtures/data/styles"
    """Folder with ``styles.json`` and ``categories.json`` (styles source ``folder``)."""
    styles_github_base_url: str = "https://raw.githubusercontent.com/Haidra-Org/AI-Horde-Styles/main"
    """Base URL of ``styles.json`` and ``categories.json`` (styles source ``github``)."""


class AnalyticsSettings(BaseModel):
    """The analytics workers."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    consumer_group: str = "analytics.views"
    """Consumer group shared by all analytics replicas."""
    batch_max_records: int = 50
    """Events applied together before one recompute (burst coalescing)."""
    batch_timeout_ms: int = 25
    """How long a poll waits to fill a batch; the consumer also sleeps this long after an empty poll,
    so it bounds the latency from a snapshot to its generation (bursts still coalesce per batch)."""
    stale_after_seconds: float = 600.0
    """Answers turn stale this long after the Horde content they show was last confirmed by a poll
    that saw the same content (or after the AI Horde moved on to other content)."""
    verify_interval_seconds: float = 5.0
    """How often a worker checks that Redis still holds the generations it wrote (and rewrites them
    after a FLUSHDB or a Redis restart without persistence)."""
    max_future_seconds: float = 60.0
    """Clock skew tolerated on an input's time (``captured_at``, ``checked_at``): a record dated
    further ahead of its arrival is rejected to the dead-letter topic and logged as an error."""


class GatewaySettings(BaseModel):
    """The read-only HTTP gateway."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS (empty: CORS off); e.g. the frontend's origin."""
    max_sse_streams: int = 100
    """Concurrent Server-Sent-Events streams per gateway process; the next one gets 429 with Retry-After."""
    max_query_string_bytes: int = 2048
    """Longest accepted query string (longer: 414)."""
    view_cache_entries: int = 64
    """Views (bodies, gzip prefixes, listing indexes) cached per gateway process; generations never change."""
    selection_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    """Filtered, sorted deletion-risk selections (rows, summary, joined JSON) kept per process (0:
    none, every such answer selects again)."""
    answer_cache_bytes: int = 32 * 1024 * 1024
    """Bodies of finished answers replayed while their generation is current, per process (0: off)."""
    pointer_max_age_seconds: float = 1.0
    """Longest time a category pointer is served from memory without an announcement (safety net)."""
    sse_keepalive_seconds: float = 15.0
    """Longest silence on an event stream before a keep-alive comment."""
    sse_read_block_seconds: float = 5.0
    """XREAD BLOCK of the one Redis reader per category that feeds every event stream."""
    sse_buffer_events: int = 256
    """Events buffered per event stream; a client further behind is dropped with a final event."""
    redis_max_connections: int = 32
    """Redis connections for queries per gateway process (probes and event streams have their own)."""
    access_log_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of requests written to the JSON access log (logger ``hma.access``; 0: off, 1: every one)."""


class HistorySettings(LifecyclePolicy):
    """Daily history and the lifecycle policy of deletion risk (``docs/history.md``)."""

    retention_days: int = Field(default=400, ge=1)
    """Days of daily history kept (in Redis, and the longest ``days`` a history route accepts)."""
    mod_data_path: str = ""
    """The image reference's ``model_mod_data.json`` (added/modified/removed dates, read by analytics at
    start): image models' ``first_seen_at`` comes from it where present; empty: the watcher's sighting."""


class StandinSettings(BaseModel):
    """The local AI Horde stand-in (offline runs and tests)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    data_dir: str = "tests/fixtures/data/horde_api/synthetic"
    """Folder with recorded responses served by the stand-in."""
    reference_dir: str = "tests/fixtures/data/reference"
    """Legacy model reference (``image/``, ``text/``) that decides ``model_state=known``; empty: all known."""
    advance_every_seconds: float = 0.0
    """Move to the next scenario frame this often; 0 moves only on ``POST /_control/advance``."""
    rate_limit_per_minute: int = 90
    """Requests per minute per client IP and route before 429, as the real Horde's limiter."""


class LeaderSettings(BaseModel):
    """Leader election of the single-writer services (poller, reference watcher) through a Redis lease."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    enabled: bool = True
    """Only the replica holding the lease polls and publishes (off: every replica acts, no Redis needed)."""
    lease_seconds: float = Field(default=10.0, gt=0)
    """Lease duration: a standby takes over at most this long (plus one renew interval) after the
    leader dies; a paused leader stops acting once this long has passed since its last renewal."""
    renew_interval_seconds: float = Field(default=3.0, gt=0)
    """How often the leader extends its lease and a standby tries to take it (well below the lease)."""

    @model_validator(mode="after")
    def _renew_within_lease(self) -> LeaderSettings:
        if self.renew_interval_seconds >= self.lease_seconds:
            raise ValueError("leader.renew_interval_seconds must be below leader.lease_seconds")
        return self


class Settings(BaseSettings):
    """All settings; each service reads the groups it needs. Env: ``HORDE_<GROUP>__<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="HORDE_",
        env_nested_delimiter="__",
        use_attribute_docstrings=True,
        extra="ignore",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of every service."""
    log_json: bool = True
    """One JSON object per log line (off: human-readable lines)."""
    http_host: str = "0.0.0.0"
    """Address the service's HTTP server (probes, metrics, gateway API) binds to."""
    http_port: int = 8080
    """Port of the service's HTTP server; the gateway's API is served here."""
    ops_port: int = Field(default=0, ge=0, le=65535)
    """Port of ``/healthz``, ``/readyz`` and ``/metrics``, apart from the API (Kubernetes: 8081, reachable
    from the monitoring namespace only); 0 serves them on ``HORDE_HTTP_PORT`` (local runs)."""
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    """Kafka connection."""
    redis: RedisSettings = Field(default_factory=RedisSettings)
    """Redis connection."""
    horde_api: HordeApiSettings = Field(default_factory=HordeApiSettings)
    """AI Horde API polling."""
    reference: ReferenceSettings = Field(default_factory=ReferenceSettings)
    """Model reference source."""
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    """Analytics workers."""
    risk: RiskThresholds = Field(default_factory=RiskThresholds)
    """Deletion-risk thresholds."""
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    """HTTP gateway."""
    standin: StandinSettings = Field(default_factory=StandinSettings)
    """AI Horde stand-in."""
    leader: LeaderSettings = Field(default_factory=LeaderSettings)
    """Leader election of the poller and the reference watcher."""
    history: HistorySettings = Field(default_factory=HistorySettings)
    """Daily history and lifecycle policy."""
