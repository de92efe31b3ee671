"""Offline validators for the deployment files; each returns a list of problems (empty = valid).

The tests run them on the real files and on deliberately broken copies. Sources of truth are the
code: the settings model (``devtools.devstack.config_table.rows``), the topics
(``shared.topics.ALL_TOPICS``, ``shared.kafka.topic_configs``) and the HTTP routes
(``shared.runtime.probe_routes``, the gateway app).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, schema_contents
from pydantic import BaseModel, SecretStr
from referencing import Registry, Resource

from devtools.devstack.config_table import rows
from shared.kafka import dead_letter_configs, topic_configs
from shared.settings import KafkaSettings, Settings
from shared.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/haidra-org/horde-model-analytics"
#: Service module -> name of its Deployment / compose service.
SERVICES = {
    "poller": "poller",
    "reference_watcher": "reference-watcher",
    "analytics": "analytics",
    "gateway": "gateway",
    "horde_standin": "horde-standin",
}
#: Single writers that run two replicas behind a leader lease (shared/leader.py).
SINGLETONS = {"poller", "reference_watcher"}
KAFKA_USERS = {"poller", "reference_watcher", "analytics"}
REDIS_USERS = {"analytics", "gateway", "poller", "reference_watcher"}
INTERNET_USERS = {"poller", "reference_watcher"}
#: Kubernetes versions whose schemas (shipped by kubernetes-validate) every object must satisfy.
K8S_VERSIONS = ("1.30.0", "1.37.0")


# --- sources of truth -----------------------------------------------------------------------------


@cache
def settings_catalogue() -> dict[str, bool]:
    """Every setting's env var -> whether it is a secret (a ``SecretStr`` field)."""
    secret: set[str] = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, subfield in annotation.model_fields.items():
                if subfield.annotation is SecretStr:
                    secret.add(f"HORDE_{name}__{sub}".upper())
        elif annotation is SecretStr:
            secret.add(f"HORDE_{name}".upper())
    return {env: env in secret for env, _, _ in rows()}


#: The package of a runnable module other than ``services``: the stand-in is development tooling.
PACKAGES = {"horde_standin": "devtools"}


def dotted(module: str) -> str:
    """The ``python -m`` name of a runnable module (``services.poller``, ``devtools.horde_standin``)."""
    return f"{PACKAGES.get(module, 'services')}.{module}"


def module_of_command(name: str) -> str | None:
    """The runnable module a ``python -m`` name runs (``None``: none of ours)."""
    module = name.partition(".")[2]
    return module if module in SERVICES and dotted(module) == name else None


def real_module(module: str) -> bool:
    """``python -m services.<module>`` (or ``devtools.<module>``) would run a ``__main__``."""
    return module in SERVICES and importlib.util.find_spec(f"{dotted(module)}.__main__") is not None


@cache
def http_routes(module: str) -> frozenset[str]:
    """Paths served by a service's HTTP server (the gateway app, or the shared probe routes)."""
    if module == "gateway":
        from services.gateway.app import create_app

        return frozenset(getattr(route, "path", "") for route in create_app(Settings()).routes)
    from shared.runtime import probe_routes

    return frozenset(getattr(route, "path", "") for route in probe_routes({}))


def expected_topics(kafka: KafkaSettings) -> dict[str, tuple[int, dict[str, str]]]:
    """Topic name -> (partitions, configs) as ``shared.kafka.ensure_topics`` would create them."""
    wanted: dict[str, tuple[int, dict[str, str]]] = {}
    for spec in ALL_TOPICS:
        spec = spec.with_prefix(kafka.topic_prefix)
        wanted[spec.name] = (kafka.topic_partitions, topic_configs(spec, kafka))
        wanted[spec.dead_letter] = (1, dead_letter_configs(kafka))
    return wanted


def parse_settings(env: dict[str, str]) -> tuple[Settings | None, str]:
    """Settings read from exactly ``env`` (no process environment): (settings, error)."""

    try:
        with mock.patch.dict(os.environ, env, clear=True):
            return Settings(), ""
    except Exception as exc:  # pydantic.ValidationError and friends
        return None, str(exc).splitlines()[0] + ": " + " | ".join(str(exc).splitlines()[1:4])


# --- Kubernetes -----------------------------------------------------------------------------------


#: Workload kinds whose pods come from ``spec.template``.
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs inside an object (Pod, workload templates, CronJob job templates)."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in POD_TEMPLATE_KINDS:
        return [spec.get("template", {}).get("spec", {})]
    if kind == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})]
    return []


class KustomizeMissing(RuntimeError):
    """Neither a kubectl with a current kustomize nor a kustomize binary is installed."""


@cache
def kustomize_command() -> tuple[str, ...]:
    """``kubectl kustomize`` (kustomize v5 inside, kubectl >= 1.27), else the ``kustomize build``
    binary (``go install sigs.k8s.io/kustomize/kustomize/v5``; .ci/install-tools does either)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=30)
        found = re.search(r"Kustomize Version: v(\d+)", version.stdout)
        if found and int(found.group(1)) >= 5:
            return (kubectl, "kustomize")
    binary = find_tool("kustomize")
    if binary:
        return (binary, "build")
    raise KustomizeMissing(
        "tests/deploy renders k8s/ with `kubectl kustomize` (kustomize v5) or `kustomize build`: "
        "install either (.ci/install-tools does)"
    )


def render_overlay(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization renders to, exactly as ``kubectl apply -k`` would send them."""
    done = subprocess.run([*kustomize_command(), str(directory)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ValueError(f"kustomize failed on {directory}: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
CRD_SCHEMAS = Path(__file__).resolve().parent / "schemas"
#: API groups of the operators whose CRD schemas are vendored (Strimzi, Prometheus Operator).
CUSTOM_GROUPS = ("kafka.strimzi.io", "monitoring.coreos.com")


def _strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields (``kubectl apply --validate=strict``)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """The vendored schema (tests/deploy/schemas) of a custom resource kind, strict; None if absent."""
    group, _, version = api_version.partition("/")
    path = CRD_SCHEMAS / f"{kind.lower()}-{group}-{version}.json"
    if not path.is_file():
        return None
    schema = _strict(json.loads(path.read_text()))
    # Kubernetes checks metadata itself; the CRD schema leaves it open.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.validators.Draft7Validator(schema)


def check_custom_resource(obj: dict[str, Any]) -> list[str]:
    """A custom resource against its CRD's schema from the operator's release, plus what the
    operator needs beyond the schema (Strimzi ignores a resource without ``strimzi.io/cluster``)."""
    meta = obj.get("metadata", {})
    where = f"{obj.get('kind')}/{meta.get('name')}"
    validator = _crd_validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return [f"{where}: no vendored CRD schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    problems = []
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}: CRD schema: {path}: {error.message}")
    if not _DNS_SUBDOMAIN.match(meta.get("name", "")):
        problems.append(f"{where}: metadata.name is not a DNS-1123 subdomain")
    strimzi = str(obj.get("apiVersion", "")).startswith("kafka.strimzi.io/") and obj.get("kind") != "Kafka"
    if strimzi and "strimzi.io/cluster" not in meta.get("labels", {}):
        problems.append(f"{where}: missing label strimzi.io/cluster (the operator ignores it)")
    return problems


def check_kafka_topic(obj: dict[str, Any]) -> list[str]:
    """A Strimzi ``KafkaTopic`` against the v1 CRD schema."""
    return check_custom_resource(obj)


@cache
def _k8s_validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema for one kind and version, loaded once (as its ``validate``)."""
    schema_dir = f"v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(
        f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version
    )
    definitions = schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def check_schemas(objects: list[dict[str, Any]]) -> list[str]:
    """Every object against the Kubernetes OpenAPI schemas (strict: unknown fields fail)."""
    problems = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if str(obj.get("apiVersion", "")).split("/")[0] in CUSTOM_GROUPS:
            problems += check_custom_resource(obj)
            continue
        for version in K8S_VERSIONS:
            try:
                validator = _k8s_validator(version, str(obj.get("apiVersion")), str(obj.get("kind")))
            except (SchemaNotFoundError, FileNotFoundError):
                problems.append(f"{where}: no Kubernetes {version} schema for {obj.get('apiVersion')}")
                break
            error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
            if error is not None:
                path = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{where}: schema {version}: {path}: {error.message}")
                break
        if "status" in obj or "creationTimestamp" in obj.get("metadata", {}):
            problems.append(f"{where}: status / creationTimestamp noise")
    return problems


def _app_container(obj: dict[str, Any]) -> dict[str, Any] | None:
    for spec in pod_specs(obj):
        for container in spec.get("containers", []):
            if (
                str(container.get("image", "")).split("@")[0].rsplit(":", 1)[0] == IMAGE
                or container.get("image") == IMAGE
            ):
                return container
    return None


def _module_of(container: dict[str, Any]) -> str | None:
    command = container.get("command") or []
    if len(command) == 3 and command[:2] == ["python", "-m"]:
        return module_of_command(command[2])
    return None


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise ValueError("only matchLabels selectors are checked")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def check_k8s(objects: list[dict[str, Any]], *, tagged: bool = True) -> list[str]:
    """Schemas plus the project's rules for the rendered objects of one kustomization."""
    problems = check_schemas(objects)
    catalogue = settings_catalogue()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    config_maps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in by_kind.get("ConfigMap", [])}
    apps: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {}
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        if deployment.get("apiVersion") != "apps/v1":
            problems.append(f"Deployment/{name}: apiVersion must be apps/v1")
        container = _app_container(deployment)
        if container is None:
            continue
        module = _module_of(container)
        if module is None or not real_module(module):
            problems.append(f"Deployment/{name}: command {container.get('command')} names no service module")
            continue
        if SERVICES[module] != name:
            problems.append(f"Deployment/{name}: runs services.{module}")
        image = container["image"]
        if tagged and not re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image.split("/")[-1]):
            problems.append(f"Deployment/{name}: image {image} has no tag or digest")
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            ref = (source.get("configMapRef") or {}).get("name")
            if ref not in config_maps:
                problems.append(f"Deployment/{name}: envFrom ConfigMap {ref} is not in the rendering")
                continue
            env.update(config_maps[ref])
        for var in container.get("env", []):
            env[var["name"]] = var.get("value", f"<from:{next(iter(var.get('valueFrom', {})), '?')}>")
        apps[module] = (deployment, container, env)
        problems += _check_app(name, module, deployment, container, env, catalogue)
    for module in ("poller", "reference_watcher", "analytics", "gateway"):
        if module not in apps:
            problems.append(f"no Deployment runs services.{module}")
    if tagged and "poller" in apps:
        problems += _check_live_contact(apps["poller"][2])
    problems += _check_config_maps(config_maps, catalogue)
    problems += _check_secret_refs(apps, catalogue)
    problems += _check_scaling(apps, by_kind)
    problems += _check_network_policies(apps, by_kind.get("NetworkPolicy", []))
    return problems


def _check_live_contact(env: dict[str, str]) -> list[str]:
    """A deployable overlay's poller must start: against the live AI Horde it needs a contact."""
    from pydantic import ValidationError

    from shared.settings import LiveHordeApiSettings

    settings, error = parse_settings({k: v for k, v in env.items() if not v.startswith("<from:")})
    if settings is None:
        return [f"Deployment/poller: settings do not parse: {error}"]
    try:
        LiveHordeApiSettings.model_validate(settings.horde_api.model_dump())
    except ValidationError as exc:
        return [f"Deployment/poller would refuse to start: {exc.errors()[0]['msg']}"]
    return []


def _http_port(env: dict[str, str]) -> int:
    return int(env.get("HORDE_HTTP_PORT", Settings.model_fields["http_port"].default))


def _ops_port(env: dict[str, str]) -> int:
    """Where probes and metrics are served: HORDE_OPS_PORT, or the HTTP port when it is 0."""
    return int(env.get("HORDE_OPS_PORT", Settings.model_fields["ops_port"].default) or 0) or _http_port(env)


#: Services whose HTTP port serves something besides probes (the gateway API, the AsyncAPI document).
API_SERVICES = {"gateway", "analytics", "horde_standin"}


def _check_app(
    name: str,
    module: str,
    deployment: dict[str, Any],
    container: dict[str, Any],
    env: dict[str, str],
    catalogue: dict[str, bool],
) -> list[str]:
    where = f"Deployment/{name}"
    problems = []
    pod = deployment["spec"]["template"]["spec"]
    for key in env:
        if key.startswith("HORDE_") and key not in catalogue:
            problems.append(f"{where}: {key} is not a setting of shared/settings.py")
    for var in container.get("env", []):
        if catalogue.get(var["name"]) and "secretKeyRef" not in (var.get("valueFrom") or {}):
            problems.append(f"{where}: secret setting {var['name']} must come from a secretKeyRef")
    port, ops = _http_port(env), _ops_port(env)
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if ops not in named.values():
        problems.append(f"{where}: containerPort {sorted(named.values())} lacks the ops port {ops}")
    if module in API_SERVICES and port not in named.values():
        problems.append(f"{where}: containerPort {sorted(named.values())} != HORDE_HTTP_PORT {port}")
    if module == "gateway" and ops == port:
        problems.append(f"{where}: HORDE_OPS_PORT must separate probes and metrics from the API port")
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        get = (container.get(probe) or {}).get("httpGet")
        if not get:
            problems.append(f"{where}: {probe} must be an httpGet probe")
            continue
        if get.get("path") != path:
            problems.append(f"{where}: {probe} path {get.get('path')} should be {path}")
        if get.get("path") not in http_routes(module):
            problems.append(f"{where}: {probe} path {get.get('path')} is not served by services.{module}")
        probe_port = named.get(get.get("port"), get.get("port"))
        if probe_port != ops:
            problems.append(f"{where}: {probe} port {get.get('port')} is not the ops port {ops}")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if any(key.startswith("prometheus.io/") for key in annotations):
        problems.append(f"{where}: scraping is the PodMonitor's (monitoring/k8s), not annotations")
    if container.get("imagePullPolicy") not in ("IfNotPresent", "Always"):
        problems.append(f"{where}: imagePullPolicy must be set (IfNotPresent with a pinned image)")
    for section in ("requests", "limits"):
        if "ephemeral-storage" not in container.get("resources", {}).get(section, {}):
            problems.append(f"{where}: resources.{section} needs ephemeral-storage")
    if module in {"gateway", "analytics"}:
        spread = pod.get("topologySpreadConstraints", [])
        anti = (pod.get("affinity") or {}).get("podAntiAffinity")
        if not spread or not anti:
            problems.append(f"{where}: needs topologySpreadConstraints and podAntiAffinity")
    if module == "gateway" and not (container.get("lifecycle") or {}).get("preStop"):
        problems.append(f"{where}: needs a preStop hook (endpoints drain before SIGTERM)")
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(section, {})):
            problems.append(f"{where}: resources.{section} needs cpu and memory")
    pod_sc, sc = pod.get("securityContext", {}), container.get("securityContext", {})
    if not (pod_sc.get("runAsNonRoot") or sc.get("runAsNonRoot")):
        problems.append(f"{where}: runAsNonRoot must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem must be true")
    if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
        problems.append(f"{where}: capabilities must drop ALL")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
        problems.append(f"{where}: /tmp must be a writable emptyDir")
    for mount, volume in mounts.items():
        if volume not in volumes:
            problems.append(f"{where}: volumeMount {mount} uses undefined volume {volume}")
    # Files named by settings must be mounted.
    files = []
    if module in KAFKA_USERS and env.get("HORDE_KAFKA__SSL_CAFILE"):
        files.append(env["HORDE_KAFKA__SSL_CAFILE"])
    if module in REDIS_USERS:
        query = parse_qs(urlsplit(env.get("HORDE_REDIS__URL", "")).query)
        files += query.get("ssl_ca_certs", [])
    for path in files:
        if not any(path.startswith(m.rstrip("/") + "/") for m in mounts if m != "/tmp"):
            problems.append(f"{where}: {path} is not on a mounted volume")
    if module in KAFKA_USERS and env.get("HORDE_KAFKA__SECURITY_PROTOCOL", "").startswith("SASL"):
        refs = {v["name"]: v.get("valueFrom", {}) for v in container.get("env", [])}
        if "secretKeyRef" not in refs.get("HORDE_KAFKA__SASL_PASSWORD", {}):
            problems.append(f"{where}: SASL needs HORDE_KAFKA__SASL_PASSWORD from a Secret")
    return problems


def _check_config_maps(config_maps: dict[str, dict[str, str]], catalogue: dict[str, bool]) -> list[str]:
    problems = []
    settings_maps = {
        name: data for name, data in config_maps.items() if any(k.startswith("HORDE_") for k in data)
    }
    if not settings_maps:
        return ["no ConfigMap with the settings"]
    for name, data in settings_maps.items():
        for key in data:
            if key not in catalogue:
                problems.append(f"ConfigMap/{name}: {key} is not a setting")
            elif catalogue[key]:
                problems.append(f"ConfigMap/{name}: secret setting {key} must not be in a ConfigMap")
        missing = sorted(k for k, secret in catalogue.items() if not secret and k not in data)
        if missing:
            problems.append(f"ConfigMap/{name}: missing non-secret settings {missing}")
        _, error = parse_settings(data)
        if error:
            problems.append(f"ConfigMap/{name}: values do not parse as settings: {error}")
    return problems


def _check_secret_refs(apps: dict[str, Any], catalogue: dict[str, bool]) -> list[str]:
    referenced = {
        var["name"]
        for _, container, _ in apps.values()
        for var in container.get("env", [])
        if "secretKeyRef" in (var.get("valueFrom") or {})
    }
    missing = sorted(k for k, secret in catalogue.items() if secret and k not in referenced)
    return [f"secret settings without a secretKeyRef: {missing}"] if missing else []


def _check_scaling(apps: dict[str, Any], by_kind: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for module in SINGLETONS & set(apps):
        deployment = apps[module][0]
        name = deployment["metadata"]["name"]
        if deployment["spec"].get("replicas", 1) != 2:
            problems.append(f"Deployment/{name}: a leader and a standby need replicas 2")
        strategy = deployment["spec"].get("strategy", {})
        rolling = strategy.get("rollingUpdate", {})
        if strategy.get("type") != "RollingUpdate" or rolling.get("maxUnavailable") != 0:
            problems.append(f"Deployment/{name}: needs strategy RollingUpdate with maxUnavailable 0")
    if "analytics" in apps:
        deployment, _, env = apps["analytics"]
        partitions = int(env.get("HORDE_KAFKA__TOPIC_PARTITIONS", KafkaSettings().topic_partitions))
        if deployment["spec"].get("replicas", 1) > partitions:
            problems.append(f"Deployment/analytics: replicas above the partition count {partitions}")
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", [])}
    if "gateway" in apps and SERVICES["gateway"] not in hpas:
        problems.append("gateway needs a HorizontalPodAutoscaler")
    services = by_kind.get("Service", [])
    for module in set(apps) & {"gateway"}:
        labels = apps[module][0]["spec"]["template"]["metadata"]["labels"]
        if not any(_selects({"matchLabels": s["spec"].get("selector", {})}, labels) for s in services):
            problems.append(f"{module}: no Service selects its pods")
    for module in set(apps) & {"gateway", "analytics"}:
        labels = apps[module][0]["spec"]["template"]["metadata"]["labels"]
        if not any(_selects(p["spec"]["selector"], labels) for p in by_kind.get("PodDisruptionBudget", [])):
            problems.append(f"{module}: no PodDisruptionBudget")
    for deployment in by_kind.get("Deployment", []):
        selector = deployment["spec"]["selector"]
        if not _selects(selector, deployment["spec"]["template"]["metadata"].get("labels", {})):
            problems.append(f"Deployment/{deployment['metadata']['name']}: selector does not match its pods")
    return problems


def _open_to_all(peers: list[dict[str, Any]] | None) -> bool:
    return not peers


def _ports(rule: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports", []) if "port" in p}


def _check_network_policies(apps: dict[str, Any], policies: list[dict[str, Any]]) -> list[str]:
    problems = []
    labels = {module: value[0]["spec"]["template"]["metadata"]["labels"] for module, value in apps.items()}
    denies = [
        p
        for p in policies
        if set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    for module, pod_labels in labels.items():
        if not any(_selects(p["spec"].get("podSelector", {}), pod_labels) for p in denies):
            problems.append(f"NetworkPolicy: no default deny of ingress and egress selects {module}")
    for module, pod_labels in labels.items():
        selected = [p for p in policies if _selects(p["spec"].get("podSelector", {}), pod_labels)]
        ingress = [r for p in selected for r in p["spec"].get("ingress", [])]
        egress = [r for p in selected for r in p["spec"].get("egress", [])]
        public = any(_open_to_all(r.get("from")) for r in ingress)
        if public != (module == "gateway"):
            problems.append(f"NetworkPolicy: {module} {'is' if public else 'is not'} reachable from anywhere")
        ops = _ops_port(apps[module][2])
        monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
        for rule in ingress:
            if (not _ports(rule) or ops in _ports(rule)) and rule.get("from") != monitoring:
                problems.append(
                    f"NetworkPolicy: {module}'s ops port {ops} is open beyond the monitoring namespace"
                )
        if not any(ops in _ports(r) and r.get("from") == monitoring for r in ingress):
            problems.append(f"NetworkPolicy: the monitoring namespace cannot scrape {module} on {ops}")
        if not any(53 in _ports(r) for r in egress):
            problems.append(f"NetworkPolicy: {module} cannot resolve DNS")
        internet = any(
            any(
                "ipBlock" in peer and ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen == 0
                for peer in r.get("to", [])
            )
            and 443 in _ports(r)
            for r in egress
        )
        if internet != (module in INTERNET_USERS):
            problems.append(
                f"NetworkPolicy: {module} {'has' if internet else 'lacks'} internet egress on 443"
            )
        if any(_open_to_all(r.get("to")) and not _ports(r) <= {53} for r in egress):
            problems.append(f"NetworkPolicy: {module} may reach any address")
        if module in KAFKA_USERS and not any(_ports(r) & {9092, 9093} for r in egress):
            problems.append(f"NetworkPolicy: {module} cannot reach Kafka")
        if module in REDIS_USERS and not any(_ports(r) & {6379, 6380} for r in egress):
            problems.append(f"NetworkPolicy: {module} cannot reach Redis")
    return problems


def check_strimzi_topics(objects: list[dict[str, Any]], kafka: KafkaSettings) -> list[str]:
    """The KafkaTopics are exactly the topics the code would create, with the same configs."""
    problems = [p for obj in objects for p in check_kafka_topic(obj)]
    found = {
        o["spec"].get("topicName", o["metadata"]["name"]): o["spec"]
        for o in objects
        if o["kind"] == "KafkaTopic"
    }
    wanted = expected_topics(kafka)
    if set(found) != set(wanted):
        problems.append(
            f"KafkaTopics: extra {sorted(set(found) - set(wanted))}, "
            f"missing {sorted(set(wanted) - set(found))}"
        )
    for name in set(found) & set(wanted):
        partitions, configs = wanted[name]
        spec = found[name]
        if spec.get("partitions") != partitions:
            problems.append(f"KafkaTopic {name}: partitions {spec.get('partitions')} != {partitions}")
        if spec.get("replicas") != kafka.replication_factor:
            problems.append(
                f"KafkaTopic {name}: replicas {spec.get('replicas')} != {kafka.replication_factor}"
            )
        if {k: str(v) for k, v in spec.get("config", {}).items()} != configs:
            problems.append(f"KafkaTopic {name}: config {spec.get('config')} != {configs}")
    return problems


# --- Compose --------------------------------------------------------------------------------------

_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERPOLATION = re.compile(
    r"\$(?:(\$)|(" + _VAR + r")|\{(" + _VAR + r")(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|)"
)


def interpolate(value: str, env: dict[str, str], *, seen: set[str] | None = None) -> str:
    """Compose's variable interpolation (``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ...)."""

    def one(match: re.Match[str]) -> str:
        escaped, bare, braced, op, arg = match.groups()
        if escaped:
            return "$"
        name = bare or braced
        if not name:
            raise ValueError(f"invalid interpolation in {value!r}")
        if seen is not None:
            seen.add(name)
        current = env.get(name)
        if op in (None,):
            return current or ""
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return interpolate(arg, env, seen=seen) if unset else current or ""
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"required variable {name} is not set: {arg}")
            return current
        return interpolate(arg, env, seen=seen) if current else ""

    return _INTERPOLATION.sub(one, value)


def load_env_file(path: Path) -> dict[str, str]:
    """A Compose ``--env-file``: ``KEY=VALUE`` lines and ``#`` comments."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "depends_on", "healthcheck",
    "profiles", "ports", "expose", "volumes", "tmpfs", "read_only", "restart", "user", "cap_drop",
    "cap_add", "security_opt", "networks", "labels", "working_dir", "stop_grace_period", "stop_signal",
    "deploy", "pull_policy", "init", "container_name", "hostname", "logging", "ulimits", "extra_hosts",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
_PROFILE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_PORT = re.compile(r"^(?:(?:\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+):)?(\d+)(?:/(tcp|udp))?$")
_URL_IN_TEST = re.compile(r"https?://[^/'\"]+:(\d+)(/[\w/.-]*)")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def _our_module(service: dict[str, Any]) -> str | None:
    command = service.get("command")
    if isinstance(command, list) and command[:2] == ["python", "-m"]:
        return module_of_command(str(command[2]))
    return None


def check_compose(root: Path = ROOT, env_file: Path | None = None) -> list[str]:
    """Structural validation of ``compose.yaml`` (no Compose JSON schema is available offline)."""
    problems: list[str] = []
    doc = yaml.safe_load((root / "compose.yaml").read_text())
    shell_env = load_env_file(env_file) if env_file else {}
    catalogue = settings_catalogue()
    for key in doc:
        if key not in {
            "name",
            "services",
            "networks",
            "volumes",
            "configs",
            "secrets",
        } and not key.startswith("x-"):
            problems.append(f"compose: unknown top-level key {key}")
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    profiles = set(_strings([s.get("profiles", []) for s in services.values()]))
    active = set(filter(None, shell_env.get("COMPOSE_PROFILES", "").split(",")))
    referenced_vars: set[str] = set()
    for name, service in services.items():
        where = f"compose service {name}"
        for key in service:
            if key not in SERVICE_KEYS:
                problems.append(f"{where}: unknown key {key}")
        for text in _strings(service):
            try:
                interpolate(text, shell_env, seen=referenced_vars)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        if "image" not in service and "build" not in service:
            problems.append(f"{where}: needs image or build")
        for profile in service.get("profiles", []):
            if not _PROFILE.match(profile):
                problems.append(f"{where}: invalid profile {profile}")
        problems += _check_healthcheck(where, service.get("healthcheck"))
        depends = service.get("depends_on", {})
        if not isinstance(depends, dict):
            problems.append(f"{where}: depends_on must map services to conditions")
            depends = {}
        for target, spec in depends.items():
            if target not in services:
                problems.append(f"{where}: depends on unknown service {target}")
                continue
            condition = (spec or {}).get("condition")
            if condition not in CONDITIONS:
                problems.append(f"{where}: depends_on {target} condition {condition!r}")
            if set(spec or {}) - {"condition", "required", "restart"}:
                problems.append(f"{where}: depends_on {target} has unknown keys")
            if condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{where}: waits for {target} to be healthy but it has no healthcheck")
            target_profiles = set(services[target].get("profiles", []))
            mine = set(service.get("profiles", []))
            if target_profiles and not target_profiles & mine and (spec or {}).get("required", True):
                problems.append(f"{where}: depends on {target} (profile only) without required: false")
        for port in service.get("ports", []):
            if not _PORT.match(str(port)):
                problems.append(f"{where}: port {port!r} is not [ip:]host:container")
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./") and not (root / source).exists():
                problems.append(f"{where}: bind mount {source} does not exist")
        if "build" in service:
            problems += _check_build(where, service["build"], root)
        module = _our_module(service)
        if "build" in service or module:
            problems += _check_compose_app(where, name, service, module, shell_env, catalogue, root)
        if service.get("profiles") and not set(service["profiles"]) <= profiles:
            problems.append(f"{where}: unknown profile")
    for required in ("offline", "monitoring"):
        if required not in profiles:
            problems.append(f"compose: no `{required}` profile")
    for var in referenced_vars:
        if var.startswith("HORDE_") and var not in catalogue:
            problems.append(f"compose: interpolates {var}, which is not a setting")
    for key in shell_env:
        if key not in catalogue and not key.startswith("COMPOSE_"):
            problems.append(f"{env_file}: {key} is neither a setting nor a COMPOSE_ variable")
    if "offline" in active and "horde-standin" in services:
        poller_env = _service_env(services.get("poller", {}), shell_env)
        standin_port = _http_port(_service_env(services["horde-standin"], shell_env))
        wanted = f"http://horde-standin:{standin_port}/api"
        if poller_env.get("HORDE_HORDE_API__BASE_URL") != wanted:
            problems.append(
                f"offline: the poller calls {poller_env.get('HORDE_HORDE_API__BASE_URL')}, not {wanted}"
            )
    problems += check_compose_topics(services, shell_env)
    return problems


def _check_healthcheck(where: str, check: Any) -> list[str]:
    if check is None:
        return []
    problems = [f"{where}: healthcheck key {k}" for k in check if k not in HEALTHCHECK_KEYS]
    test = check.get("test")
    if isinstance(test, list):
        if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            problems.append(f"{where}: healthcheck test must start with CMD, CMD-SHELL or NONE")
    elif not isinstance(test, str):
        problems.append(f"{where}: healthcheck needs a test")
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if key in check and not _DURATION.match(str(check[key])):
            problems.append(f"{where}: healthcheck {key} {check[key]!r} is not a duration")
    if "retries" in check and not isinstance(check["retries"], int):
        problems.append(f"{where}: healthcheck retries must be an integer")
    return problems


def _check_build(where: str, build: Any, root: Path) -> list[str]:
    build = {"context": build} if isinstance(build, str) else build
    context = root / build.get("context", ".")
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    if not dockerfile.is_file():
        return [f"{where}: build context has no {dockerfile.name}"]
    stages = {stage for stage, _ in dockerfile_stages(dockerfile)}
    target = build.get("target")
    if target is not None and target not in stages:
        return [f"{where}: build target {target} is not a stage of the Dockerfile"]
    return []


def _service_env(service: dict[str, Any], shell_env: dict[str, str]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: interpolate(str(value), shell_env) for key, value in environment.items()}


def _check_compose_app(
    where: str,
    name: str,
    service: dict[str, Any],
    module: str | None,
    shell_env: dict[str, str],
    catalogue: dict[str, bool],
    root: Path,
) -> list[str]:
    problems = []
    if module is None or not real_module(module):
        return [f"{where}: command {service.get('command')} names no service module"]
    if SERVICES[module] != name:
        problems.append(f"{where}: runs services.{module}")
    env = _service_env(service, shell_env)
    for key in env:
        if key not in catalogue:
            problems.append(f"{where}: {key} is not a setting of shared/settings.py")
    missing = sorted(set(catalogue) - set(env))
    if missing:
        problems.append(f"{where}: settings not set in compose.yaml: {missing}")
    _, error = parse_settings(env)
    if error:
        problems.append(f"{where}: environment does not parse as settings: {error}")
    port = _http_port(env)
    for published in service.get("ports", []):
        container_port = int(_PORT.match(str(published)).group(2)) if _PORT.match(str(published)) else None  # type: ignore[union-attr]
        if container_port != port:
            problems.append(f"{where}: publishes container port {container_port}, serves {port}")
    test = " ".join(_strings((service.get("healthcheck") or {}).get("test", [])))
    urls = _URL_IN_TEST.findall(test)
    if not urls:
        problems.append(f"{where}: healthcheck does not call the service over HTTP")
    ops = _ops_port(env)
    for url_port, path in urls:
        if int(url_port) != ops or path not in http_routes(module):
            problems.append(f"{where}: healthcheck {url_port}{path} is not served (ops port {ops})")
    if service.get("read_only") is not True or "/tmp" not in service.get("tmpfs", []):
        problems.append(f"{where}: read_only root with a /tmp tmpfs expected")
    return problems


def compose_topics(services: dict[str, Any]) -> tuple[dict[str, tuple[int, dict[str, str]]], int | None]:
    """Topics created by the kafka-init one-shot: name -> (partitions, configs), replication factor."""
    init = services.get("kafka-init", {})
    script = "\n".join(_strings(init.get("command", []))).replace("\\\n", " ")
    replication = re.search(r"--replication-factor\s+(\d+)", script)
    topics: dict[str, tuple[int, dict[str, str]]] = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if not words or words[0] != "topic":
            continue
        name, partitions, configs = None, 0, {}
        for flag, value in zip(words[1::2], words[2::2], strict=False):
            if flag == "--topic":
                name = value
            elif flag == "--partitions":
                partitions = int(value)
            elif flag == "--config":
                key, _, val = value.partition("=")
                configs[key] = val
        if name:
            topics[name] = (partitions, configs)
    return topics, int(replication.group(1)) if replication else None


def check_compose_topics(services: dict[str, Any], shell_env: dict[str, str]) -> list[str]:
    if "kafka-init" not in services:
        return ["compose: no kafka-init one-shot creating the topics"]
    problems = []
    if not any(
        (s.get("depends_on") or {}).get("kafka-init", {}).get("condition") == "service_completed_successfully"
        for s in services.values()
    ):
        problems.append("compose: nothing waits for kafka-init (service_completed_successfully)")
    app_envs = [_service_env(s, shell_env) for s in services.values() if _our_module(s)]
    settings, error = parse_settings(app_envs[0] if app_envs else {})
    if settings is None:
        return [*problems, f"compose: settings do not parse: {error}"]
    topics, replication = compose_topics(services)
    wanted = expected_topics(settings.kafka)
    if set(topics) != set(wanted):
        problems.append(
            f"kafka-init: extra {sorted(set(topics) - set(wanted))}, "
            f"missing {sorted(set(wanted) - set(topics))}"
        )
    for name in set(topics) & set(wanted):
        if topics[name] != wanted[name]:
            problems.append(f"kafka-init: {name} is {topics[name]}, the code creates {wanted[name]}")
    if replication != settings.kafka.replication_factor:
        problems.append(
            f"kafka-init: replication factor {replication} != {settings.kafka.replication_factor}"
        )
    return problems


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in logical
    ]


def dockerfile_stages(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(stage name, instructions) per ``FROM ... AS name``."""
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for instruction, args in dockerfile_instructions(path):
        if instruction == "FROM":
            match = re.search(r"\s+AS\s+(\S+)$", args, re.IGNORECASE)
            stages.append((match.group(1) if match else str(len(stages)), [(instruction, args)]))
        elif stages:
            stages[-1][1].append((instruction, args))
    return stages


def dockerignore_excludes(root: Path, relative: str) -> bool:
    """Whether ``.dockerignore`` keeps ``relative`` out of the build context (last match wins)."""
    excluded = False
    for raw in (root / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        pattern = pattern.removeprefix("**/")
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))] + parts
        if any(fnmatch.fnmatch(c, pattern) for c in candidates):
            excluded = not negate
    return excluded


# --- Strimzi KafkaUsers ---------------------------------------------------------------------------

#: KafkaUser (= SASL user name and the Secret Strimzi writes) of each Kafka client.
KAFKA_USER_OF = {
    "poller": "hma-poller",
    "reference_watcher": "hma-reference-watcher",
    "analytics": "hma-analytics",
}
Acl = tuple[str, str, str]  # (resource type, resource name, operation)


def needed_acls(kafka: KafkaSettings, consumer_group: str) -> dict[str, set[Acl]]:
    """What each Kafka client does, from the code: KafkaUser name -> the ACLs it needs."""
    from services.analytics.inputs import InputTopics
    from services.analytics.partition_producers import PartitionProducers
    from services.poller.publishing import PollerTopics
    from shared.topics import (
        HISTORY_DAILY,
        REFERENCE_CHANGED,
        REFERENCE_SOURCE_HEALTH,
        RISK_CHANGED,
        RISK_CURRENT,
        STYLES_CHANGED,
    )

    prefix = kafka.topic_prefix

    def topic(name: str, *operations: str) -> set[Acl]:
        return {("topic", name, op) for op in ("Describe", *operations)}

    poller = set().union(*(topic(s.name, "Write") for s in PollerTopics.with_prefix(prefix).all()))
    watcher = topic(REFERENCE_CHANGED.with_prefix(prefix).name, "Read", "Write")
    watcher |= topic(STYLES_CHANGED.with_prefix(prefix).name, "Read", "Write")
    watcher |= topic(REFERENCE_SOURCE_HEALTH.with_prefix(prefix).name, "Write")
    inputs = InputTopics.with_prefix(prefix).all()
    analytics = {("group", consumer_group, "Read")}
    for spec in inputs:
        analytics |= topic(spec.name, "Read") | topic(spec.dead_letter, "Write")
    for spec in (RISK_CHANGED, RISK_CURRENT):
        analytics |= topic(spec.with_prefix(prefix).name, "Read", "Write")
    history = HISTORY_DAILY.with_prefix(prefix)
    analytics |= topic(history.name, "Read", "Write") | topic(history.dead_letter, "Write")
    if kafka.transactions:  # one transactional id per category partition (risk events)
        producers = PartitionProducers(kafka, client_id="acl")
        for partition in range(kafka.topic_partitions):
            name = producers.transactional_id(partition)
            analytics |= {("transactionalId", name, "Describe"), ("transactionalId", name, "Write")}
    return {
        KAFKA_USER_OF["poller"]: poller,
        KAFKA_USER_OF["reference_watcher"]: watcher,
        KAFKA_USER_OF["analytics"]: analytics,
    }


def check_kafka_users(objects: list[dict[str, Any]], kafka: KafkaSettings, consumer_group: str) -> list[str]:
    """One SCRAM KafkaUser per Kafka client with exactly the ACLs it needs (allow rules, literal)."""
    problems = [p for obj in objects if obj["kind"] == "KafkaUser" for p in check_custom_resource(obj)]
    users = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "KafkaUser"}
    wanted = needed_acls(kafka, consumer_group)
    if set(users) != set(wanted):
        problems.append(f"KafkaUsers: {sorted(users)} != {sorted(wanted)}")
    for name in set(users) & set(wanted):
        spec = users[name]
        if spec.get("authentication", {}).get("type") != "scram-sha-512":
            problems.append(f"KafkaUser/{name}: authentication must be scram-sha-512 (HORDE_KAFKA__SASL_*)")
        granted: set[Acl] = set()
        for acl in spec.get("authorization", {}).get("acls", []):
            resource = acl["resource"]
            if acl.get("type", "allow") != "allow" or resource.get("patternType", "literal") != "literal":
                problems.append(f"KafkaUser/{name}: only literal allow rules are expected")
            if acl.get("host", "*") != "*":
                problems.append(f"KafkaUser/{name}: host-restricted rule")
            granted |= {(resource["type"], resource.get("name", ""), op) for op in acl["operations"]}
        if granted - wanted[name]:
            problems.append(f"KafkaUser/{name}: more than it needs: {sorted(granted - wanted[name])}")
        if wanted[name] - granted:
            problems.append(f"KafkaUser/{name}: missing {sorted(wanted[name] - granted)}")
    return problems


def check_strimzi_cluster(objects: list[dict[str, Any]], kafka: KafkaSettings) -> list[str]:
    """The example Kafka cluster: enough nodes, min ISR 2, SCRAM over TLS, ACLs enforced."""
    problems = []
    clusters = [o for o in objects if o["kind"] == "Kafka"]
    if len(clusters) != 1:
        return [f"expected one Kafka cluster, found {len(clusters)}"]
    cluster = clusters[0]["spec"]
    name = clusters[0]["metadata"]["name"]
    pools = [
        o
        for o in objects
        if o["kind"] == "KafkaNodePool" and o["metadata"]["labels"].get("strimzi.io/cluster") == name
    ]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    if brokers < kafka.replication_factor:
        problems.append(f"Kafka/{name}: {brokers} brokers < replication factor {kafka.replication_factor}")
    config = cluster["kafka"].get("config", {})
    if int(config.get("min.insync.replicas", 1)) != 2 or int(config.get("default.replication.factor", 1)) < 3:
        problems.append(f"Kafka/{name}: default replication 3 with min.insync.replicas 2 expected")
    if int(config.get("message.max.bytes", 0)) < kafka.max_message_bytes:
        problems.append(f"Kafka/{name}: message.max.bytes below HORDE_KAFKA__MAX_MESSAGE_BYTES")
    if cluster["kafka"].get("authorization", {}).get("type") != "simple":
        problems.append(f"Kafka/{name}: ACLs are not enforced (authorization simple)")
    for listener in cluster["kafka"]["listeners"]:
        if not listener.get("tls") or listener.get("authentication", {}).get("type") != "scram-sha-512":
            problems.append(f"Kafka/{name}: listener {listener['name']} is not SCRAM over TLS")
    for other in objects:
        labels = other["metadata"].get("labels", {})
        if other["kind"] in ("KafkaTopic", "KafkaUser") and labels.get("strimzi.io/cluster") != name:
            problems.append(f"{other['kind']}/{other['metadata']['name']}: not labelled for cluster {name}")
    return problems


# --- external validators --------------------------------------------------------------------------


def find_tool(name: str) -> str | None:
    """A validator binary: on PATH, in .ci/work/bin (.ci/install-tools, `make tools`) or in Go's bin."""
    for candidate in (
        shutil.which(name),
        ROOT / ".ci" / "work" / "bin" / name,
        Path(os.environ.get("GOPATH") or Path.home() / "go") / "bin" / name,
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_tool(name: str) -> str:
    """The tool's path; a skip naming the install command where it is absent, a failure on CI."""
    import pytest

    path = find_tool(name)
    if path is None:
        message = f"{name} is not installed: run `make tools` (.ci/install-tools) to install it"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every validator: {message}")
        pytest.skip(message)
    return path
