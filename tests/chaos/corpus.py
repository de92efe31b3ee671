"""A deterministic corpus of malformed inputs, written from the real data by mutation.

Four kinds, each aimed at the component that must reject it:

* ``horde``: AI Horde payloads served by the stand-in (mutated frames, or faults that truncate,
  empty or retype an answer); the poller must reject every one and publish nothing.
* ``reference``: reference files written into the watcher's folder; each is unusable as a whole
  (not JSON, wrong shape) or removes most of the category (held), so the previous version stays.
* ``kafka``: records published raw to the analytics input topics; each must be dead-lettered.
* ``http``: gateway requests with one parameter made invalid; each must be a 4xx with a body
  that says what is wrong.

Everything is derived from ``tests/fixtures/data`` with one seeded ``random.Random``: the same seed
gives the same corpus, byte for byte. ``python -m tests.chaos.corpus`` prints the counts.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devtools.horde_standin.reference import is_known, load_known_models
from shared.domain.categories import ModelCategory
from shared.domain.reference.parse import parse_reference
from shared.domain.reference.validation import ReferenceFormatError
from shared.events.horde import SourceHealthReported
from shared.topics import (
    HORDE_SOURCE_HEALTH,
    HORDE_STATS_CAPTURED,
    HORDE_STATUS_CAPTURED,
    HORDE_WORKERS_CAPTURED,
    REFERENCE_CHANGED,
    TopicSpec,
    partition_for,
    partition_for_model_type,
)
from tests.support.events import DATA, SYNTHETIC, reference_event, stats_event, status_event, workers_event

SEED = 20260611
REFERENCE_FILES = {
    "image_generation": "image/stable_diffusion.json",
    "text_generation": "text/db.json",
}
STATS_PATHS = {"image": "/api/v2/stats/img/models", "text": "/api/v2/stats/text/models"}


# ------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class HordeCase:
    """One bad AI Horde answer for ``endpoint``/``model_type``: a mutated payload in a frame
    (``payload_key`` and ``payload``) or a fault of the stand-in's fault API (``fault``)."""

    name: str
    endpoint: str
    model_type: str
    payload_key: str | None = None
    payload: Any = None
    fault: dict[str, Any] | None = None


@dataclass(frozen=True)
class ReferenceCase:
    """A file written at ``path`` (relative to the watcher's folder) that must not be published."""

    name: str
    category: str
    path: str
    content: bytes
    #: ``invalid_payload`` (unusable as a whole) or ``mass_removal`` (held).
    expected: str


@dataclass(frozen=True)
class KafkaCase:
    """A record published raw (no CloudEvents headers) to an input topic; ``None`` is a tombstone."""

    name: str
    topic: TopicSpec
    key: bytes
    partition_of: str
    value: bytes | None

    def partition(self, partitions: int) -> int:
        if self.partition_of in ("image", "text"):
            return partition_for_model_type(self.partition_of, partitions)  # type: ignore[arg-type]
        return partition_for(ModelCategory(self.partition_of), partitions)


@dataclass(frozen=True)
class HttpCase:
    """A gateway request (path and raw query string) that must answer ``status``."""

    name: str
    path: str
    query: str
    status: int


@dataclass
class Corpus:
    horde: list[HordeCase] = field(default_factory=list)
    reference: list[ReferenceCase] = field(default_factory=list)
    kafka: list[KafkaCase] = field(default_factory=list)
    http: list[HttpCase] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "horde": len(self.horde),
            "reference": len(self.reference),
            "kafka": len(self.kafka),
            "http": len(self.http),
            "total": len(self.horde) + len(self.reference) + len(self.kafka) + len(self.http),
        }

    def frames(self) -> list[dict[str, Any]]:
        """The mutated frames: each holds every payload (good ones from the synthetic snapshot)
        with at most one mutated payload per payload name (workers: one image, one text case)."""
        base = {name: json.loads((SYNTHETIC / f"{name}.json").read_text()) for name in _PAYLOADS}
        slots: dict[str, list[HordeCase]] = {}
        for case in self.horde:
            if case.payload_key is not None:
                slot = case.payload_key + (f":{case.model_type}" if case.payload_key == "workers" else "")
                slots.setdefault(slot, []).append(case)
        frames: list[dict[str, Any]] = []
        for index in range(max((len(v) for v in slots.values()), default=0)):
            frame = copy.deepcopy(base)
            workers: list[dict[str, Any]] = frame["workers"]
            for cases in slots.values():
                if index >= len(cases):
                    continue
                case = cases[index]
                if case.payload_key == "workers":
                    # An image and a text case share the payload: each replaces its type's workers.
                    workers = [w for w in workers if w.get("type") != case.model_type] + list(case.payload)
                else:
                    frame[str(case.payload_key)] = case.payload
            frame["workers"] = workers
            frames.append(frame)
        return frames

    def frame_of(self, case: HordeCase) -> int:
        """1-based frame index (frame 0 is the good snapshot) serving a frame case."""
        same_slot = [c for c in self.horde if c.payload_key == case.payload_key]
        slot_cases = [c for c in same_slot if c.payload_key != "workers" or c.model_type == case.model_type]
        return slot_cases.index(case) + 1


_PAYLOADS = (
    "status_models_image",
    "status_models_text",
    "stats_models_image",
    "stats_models_text",
    "workers",
)


# ------------------------------------------------------------------------------------------- horde

_STATUS_MUTATIONS: list[tuple[str, Any]] = [
    ("count", "many"), ("count", -1), ("count", 1.5), ("count", None), ("count", True), ("count", [3]),
    ("jobs", -1), ("jobs", "queue"), ("queued", -0.5), ("performance", "fast"), ("performance", -2.0),
    ("eta", -5), ("eta", 2.5), ("eta", "soon"), ("type", "video"), ("type", 3), ("count", "<missing>"),
]  # fmt: skip
_STATS_MUTATIONS: list[tuple[str, Any]] = [
    ("value", "12"), ("value", 1.5), ("value", None), ("value", [1]), ("value", True),
    ("period", ["x"]), ("period", "n/a"), ("period", 7),
]  # fmt: skip
_WORKER_MUTATIONS: list[tuple[str, Any]] = [
    ("id", 5), ("id", None), ("name", None), ("name", 7), ("threads", "two"), ("threads", 1.5),
    ("threads", None), ("models", "a,b"), ("models", [1, 2]), ("models", None), ("online", "yes"),
    ("online", 2), ("uptime", "long"), ("trusted", "no"), ("maintenance_mode", "off"), ("performance", 12),
]  # fmt: skip


def _horde_cases(rng: random.Random, frames_per_slot: int) -> list[HordeCase]:
    known = load_known_models(DATA / "reference")
    cases: list[HordeCase] = []
    for model_type in ("image", "text"):
        key = f"status_models_{model_type}"
        status = json.loads((SYNTHETIC / f"{key}.json").read_text())
        candidates = [i for i, e in enumerate(status) if is_known(e["name"], model_type, known)]
        for field_name, value in rng.sample(_STATUS_MUTATIONS, frames_per_slot):
            mutated = copy.deepcopy(status)
            index = rng.choice(candidates)
            if value == "<missing>":
                del mutated[index][field_name]
            else:
                mutated[index][field_name] = value
            cases.append(HordeCase(f"status/{model_type}: entry {index} {field_name}={value!r}", "status",
                                   model_type, key, mutated))  # fmt: skip
        key = f"stats_models_{model_type}"
        stats = json.loads((SYNTHETIC / f"{key}.json").read_text())
        for kind, value in rng.sample(_STATS_MUTATIONS, frames_per_slot):
            mutated = copy.deepcopy(stats)
            period = rng.choice(["day", "month", "total"])
            if kind == "period":
                mutated[period] = value
                what = f"{period}={value!r}"
            else:
                names = [n for n in sorted(mutated[period]) if is_known(n, model_type, known)]
                name = rng.choice(names)
                mutated[period][name] = value
                what = f"{period}[{name!r}]={value!r}"
            cases.append(HordeCase(f"stats/{model_type}: {what}", "stats", model_type, key, mutated))
        workers = json.loads((SYNTHETIC / "workers.json").read_text())
        mine = [w for w in workers if w.get("type") == model_type]
        for field_name, value in rng.sample(_WORKER_MUTATIONS, frames_per_slot):
            mutated = copy.deepcopy(mine)
            index = rng.randrange(len(mutated))
            mutated[index][field_name] = value
            cases.append(HordeCase(f"workers/{model_type}: worker {index} {field_name}={value!r}", "workers",
                                   model_type, "workers", mutated))  # fmt: skip
    for endpoint in ("status", "stats", "workers"):
        for model_type in ("image", "text"):
            for _ in range(2):
                keep = rng.randrange(0, 400)
                fault = {"kind": "truncated_json", "keep_bytes": keep}
                what = f"{endpoint}/{model_type}: truncated to {keep} bytes"
                cases.append(HordeCase(what, endpoint, model_type, fault=fault))
            cases.append(HordeCase(f"{endpoint}/{model_type}: empty body", endpoint, model_type,
                                   fault={"kind": "empty"}))  # fmt: skip
            cases.append(HordeCase(f"{endpoint}/{model_type}: wrong types", endpoint, model_type,
                                   fault={"kind": "wrong_types"}))  # fmt: skip
    return cases


# --------------------------------------------------------------------------------------- reference


def _reference_cases(rng: random.Random) -> list[ReferenceCase]:
    cases: list[ReferenceCase] = []
    for category, path in REFERENCE_FILES.items():
        raw = (DATA / "reference" / path).read_bytes()
        data: dict[str, Any] = json.loads(raw)
        names = list(data)

        def add(what: str, content: bytes, c: str = category, p: str = path) -> None:
            # Unusable as a whole for the parser, or readable but dropping most models (held).
            try:
                parse_reference(ModelCategory(c), content, format="legacy", version="")
            except ReferenceFormatError:
                expected = "invalid_payload"
            else:
                expected = "mass_removal"
            cases.append(ReferenceCase(f"{c}: {what}", c, p, content, expected))

        for _ in range(5):
            cut = rng.randrange(1, len(raw) - 1)
            add(f"truncated at byte {cut}", raw[:cut])
        add("empty file", b"")
        add("whitespace only", b" \n\t\n")
        add("an HTML error page", b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n")
        add("binary garbage", bytes(rng.randrange(256) for _ in range(512)))
        add("a list of names", json.dumps(names).encode())
        add("a JSON string", json.dumps(raw[:200].decode(errors="replace")).encode())
        add("a number", b"42")
        add("null", b"null")
        add("doubled (two objects)", raw + raw)
        share = rng.uniform(0.02, 0.5)
        kept = names[: max(1, int(len(names) * share))]
        add(
            f"only {len(kept)} of {len(names)} models",
            json.dumps({n: data[n] for n in kept}).encode(),
        )
        add(
            "every record replaced by a string",
            json.dumps(dict.fromkeys(names, "oops")).encode(),
        )
        add("wrapped in an extra object", json.dumps({"models": data}).encode())
    return cases


# ------------------------------------------------------------------------------------------- kafka


def _kafka_cases(rng: random.Random) -> list[KafkaCase]:
    captured = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    reference = reference_event(
        ModelCategory.IMAGE_GENERATION, DATA / "reference/image/stable_diffusion.json", detected_at=captured
    )
    status = status_event(
        json.loads((SYNTHETIC / "status_models_image.json").read_text()), captured_at=captured
    )
    stats = stats_event(json.loads((SYNTHETIC / "stats_models_image.json").read_text()), captured_at=captured)
    workers = workers_event(json.loads((SYNTHETIC / "workers.json").read_text()), captured_at=captured)
    health = SourceHealthReported(endpoint="status", model_type="image", ok=True, checked_at=captured)
    sources: list[tuple[TopicSpec, bytes, str, dict[str, Any]]] = [
        (REFERENCE_CHANGED, b"image_generation", "image_generation", json.loads(reference.model_dump_json())),
        (HORDE_STATUS_CAPTURED, b"image", "image", json.loads(status.model_dump_json())),
        (HORDE_STATS_CAPTURED, b"image", "image", json.loads(stats.model_dump_json())),
        (HORDE_WORKERS_CAPTURED, b"image", "image", json.loads(workers.model_dump_json())),
        (HORDE_SOURCE_HEALTH, b"image", "image", json.loads(health.model_dump_json())),
    ]
    cases: list[KafkaCase] = []
    for spec, key, partition_of, event in sources:
        raw = json.dumps(event).encode()
        short = spec.name.split(".")[1]

        def add(
            what: str, value: bytes | None, s: TopicSpec = spec, k: bytes = key, p: str = partition_of
        ) -> None:
            cases.append(KafkaCase(f"{s.name}: {what}", s, k, p, value))

        for _ in range(2):
            cut = rng.randrange(1, len(raw) - 1)
            add(f"truncated at byte {cut}", raw[:cut])
        add("empty value", b"")
        add("tombstone (null value)", None)
        add("random bytes", bytes(rng.randrange(256) for _ in range(64)))
        add("a JSON array", json.dumps([event]).encode())
        add("schema_version 99 (unknown)", json.dumps(event | {"schema_version": 99}).encode())
        required = {
            "category": ("category", "version", "records"),
            "model-status": ("model_type", "entries", "captured_at"),
            "model-stats": ("stats", "content_hash"),
            "workers": ("workers", "source_url"),
            "source-health": ("endpoint", "checked_at"),
        }[short]
        dropped = rng.choice(required)
        add(f"without {dropped}", json.dumps({k: v for k, v in event.items() if k != dropped}).encode())
        wrong = {
            "category": {"category": "not_a_category"},
            "model-status": {"model_type": "video"},
            "model-stats": {"captured_at": "yesterday"},
            "workers": {"workers": "none"},
            "source-health": {"ok": "perhaps"},
        }[short]
        add(f"wrong value {wrong}", json.dumps(event | wrong).encode())
    # Deeper damage inside the payloads the worker would otherwise merge.
    entries = json.loads(status.model_dump_json())
    entries["entries"][rng.randrange(len(entries["entries"]))]["count"] = -3
    cases.append(
        KafkaCase(
            "status: a negative count", HORDE_STATUS_CAPTURED, b"image", "image", json.dumps(entries).encode()
        )
    )
    table = json.loads(stats.model_dump_json())
    table["stats"]["month"][rng.choice(sorted(table["stats"]["month"]))] = "lots"
    cases.append(
        KafkaCase(
            "stats: a count as text", HORDE_STATS_CAPTURED, b"image", "image", json.dumps(table).encode()
        )
    )
    listing = json.loads(workers.model_dump_json())
    listing["workers"][rng.randrange(len(listing["workers"]))]["models"] = 7
    cases.append(
        KafkaCase(
            "workers: models as a number",
            HORDE_WORKERS_CAPTURED,
            b"image",
            "image",
            json.dumps(listing).encode(),
        )
    )
    return cases


# -------------------------------------------------------------------------------------------- http

_P = "/model_references/statistics"


def _http_cases(rng: random.Random) -> list[HttpCase]:
    cases: list[HttpCase] = []

    def add(what: str, path: str, query: str, status: int) -> None:
        cases.append(HttpCase(what, path, query, status))

    for category in ("image_generation", "text_generation"):
        with_stats, risk, audit = (
            f"{_P}/{category}/with-stats",
            f"{_P}/{category}/deletion-risk",
            f"{_P}/{category}/audit",
        )
        for value in ("-1", "abc", "1.5", "", "1e3", "0x10"):
            add(
                f"{category} with-stats min_worker_count={value!r}",
                with_stats,
                f"min_worker_count={value}",
                422,
            )
        for name in ("include_workers", "include_backend_variations", "sort_desc"):
            value = rng.choice(["maybe", "2", "yes please", "-", "null"])
            add(f"{category} with-stats {name}={value!r}", with_stats, f"{name}={value}", 422)
        for value in ("xml", "JSON ", "csv;", ""):
            add(f"{category} deletion-risk format={value!r}", risk, f"format={value}", 422)
        # "2.0" is the integer 2, as in the original's FastAPI parsing (docs/contract.md); "2.5" is not.
        for value in ("0", "-3", "ten", "2.5"):
            add(f"{category} deletion-risk limit={value!r}", risk, f"limit={value}", 422)
        for value in ("-1", "x"):
            add(f"{category} audit offset={value!r}", audit, f"offset={value}", 422)
        for value in ("critical_", "ZERO_USAGE", "all", "'; DROP TABLE"):
            add(f"{category} deletion-risk preset={value!r}", risk, f"preset={value}", 400)
        for value in ("worker", "risk", "name desc", "__class__"):
            add(f"{category} with-stats sort_by={value!r}", with_stats, f"sort_by={value}", 400)
            add(f"{category} deletion-risk sort_by={value!r}", risk, f"sort_by={value}", 400)
        add(f"{category} group_text_models=sure", risk, "group_text_models=sure", 422)
        add(f"{category} a 3000-byte search", with_stats, "search=" + "a" * 3000, 414)
        add(f"{category} unknown model", f"{risk}/no-such-model-{rng.randrange(10**6)}", "", 404)
    for category in ("image_generation_", "IMAGE", "..", "%2e%2e", "text-generation", "nope"):
        add(f"unknown category {category!r}", f"{_P}/{category}", "", 404)
        add(f"unknown category {category!r} with-stats", f"{_P}/{category}/with-stats", "", 404)
    for category in ("clip", "esrgan", "lora"):
        add(f"{category} has no AI Horde data (with-stats)", f"{_P}/{category}/with-stats", "", 400)
        add(f"{category} has no AI Horde data (deletion-risk)", f"{_P}/{category}/deletion-risk", "", 400)
    add("statistics limit=0", f"{_P}/image_generation", "limit=0", 422)
    add("statistics offset=-1", f"{_P}/text_generation", "offset=-1", 422)
    return cases


# ------------------------------------------------------------------------------------------- build


def build_corpus(seed: int = SEED, *, frames_per_slot: int = 5) -> Corpus:
    """The corpus for ``seed`` (every kind draws from its own stream, so kinds stay independent)."""
    return Corpus(
        horde=_horde_cases(random.Random(f"{seed}/horde"), frames_per_slot),
        reference=_reference_cases(random.Random(f"{seed}/reference")),
        kafka=_kafka_cases(random.Random(f"{seed}/kafka")),
        http=_http_cases(random.Random(f"{seed}/http")),
    )


def describe(corpus: Corpus) -> str:
    counts = corpus.counts()
    horde = Counter(c.endpoint + ("(fault)" if c.fault else "") for c in corpus.horde)
    return f"{counts} horde by endpoint: {dict(horde)}"


if __name__ == "__main__":  # pragma: no cover
    print(describe(build_corpus()))
