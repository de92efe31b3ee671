"""A small kustomize renderer for CI machines without ``kubectl``: exactly the features ``k8s/`` uses.

Supported kustomization fields: ``resources`` (files and directories), ``components`` (``kind:
Component`` directories), ``namespace``, ``labels`` (``pairs`` on ``metadata.labels`` only),
``images`` (``newName``/``newTag``/``digest``), ``configMapGenerator`` (``literals``, ``envs``,
``behavior: create|merge|replace``, with kustomize's content-hash name suffix and the references in
pod specs renamed) and ``patches`` (strategic-merge patches located by kind and name, from ``path``
or inline ``patch``). Anything else raises :class:`UnsupportedFeature`, so the manifests cannot
silently drift outside what this renderer reproduces; when ``kubectl`` exists a test checks that
both give the same objects.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "components",
    "images",
    "configMapGenerator",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
}
#: Strategic-merge keys of the lists our patches touch (Kubernetes' patchMergeKey for each field).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class UnsupportedFeature(Exception):
    """The kustomization uses something this renderer does not reproduce."""


@dataclass
class _Resource:
    obj: dict[str, Any]
    generated: bool = False  # a generated ConfigMap whose hash suffix is added at the end


def render(directory: str | Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize <directory>`` prints (same content, order not guaranteed)."""
    resources = _build(Path(directory), component=False)
    return _finalize(resources)


# --- loading -------------------------------------------------------------------------------------


def _kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            unknown = set(data) - SUPPORTED_FIELDS
            if unknown:
                raise UnsupportedFeature(f"{path}: unsupported kustomization fields {sorted(unknown)}")
            return data
    raise FileNotFoundError(f"no kustomization file in {directory}")


def _load_documents(path: Path) -> list[_Resource]:
    found = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise ValueError(f"{path}: not a Kubernetes object: {doc!r:.80}")
        found.append(_Resource(doc))
    return found


def _build(directory: Path, *, component: bool, upstream: list[_Resource] | None = None) -> list[_Resource]:
    k = _kustomization(directory)
    kind = k.get("kind", "Kustomization")
    if component != (kind == "Component"):
        raise UnsupportedFeature(f"{directory}: kind {kind} used as {'component' if component else 'base'}")
    resources: list[_Resource] = list(upstream or [])
    for entry in k.get("resources", []):
        path = directory / entry
        resources.extend(_build(path, component=False) if path.is_dir() else _load_documents(path))
    for entry in k.get("components", []):
        resources = _build(directory / entry, component=True, upstream=resources)
    for generator in k.get("configMapGenerator", []):
        _generate_config_map(directory, generator, resources)
    # kustomize's builtin transformer order: patches, namespace, labels, images.
    for patch in k.get("patches", []):
        _apply_patch(directory, patch, resources)
    if "namespace" in k:
        for res in resources:
            if res.obj["kind"] not in CLUSTER_SCOPED:
                res.obj["metadata"]["namespace"] = k["namespace"]
    for entry in k.get("labels", []):
        if (
            entry.get("includeSelectors")
            or entry.get("includeTemplates")
            or set(entry)
            - {
                "pairs",
                "includeSelectors",
                "includeTemplates",
            }
        ):
            raise UnsupportedFeature(f"{directory}: labels supports `pairs` on metadata only")
        for res in resources:
            labels = res.obj["metadata"].setdefault("labels", {})
            labels.update({key: str(value) for key, value in entry["pairs"].items()})
    for image in k.get("images", []):
        _set_image(image, resources)
    return resources


# --- configMapGenerator ----------------------------------------------------------------------------

_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _parse_env_file(path: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise UnsupportedFeature(f"{path}: `{line}` (keys without values read the environment)")
        key, value = line.split("=", 1)
        data[key] = value
    return data


def _literal(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def _generate_config_map(directory: Path, generator: dict[str, Any], resources: list[_Resource]) -> None:
    unknown = set(generator) - {"name", "namespace", "behavior", "literals", "envs"}
    if unknown:
        raise UnsupportedFeature(f"{directory}: configMapGenerator fields {sorted(unknown)}")
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        data.update(_parse_env_file(directory / env))
    data.update(_literal(item) for item in generator.get("literals", []))
    for key in data:
        if not _KEY.match(key):
            raise ValueError(f"{directory}: invalid ConfigMap key {key!r}")
    name = generator["name"]
    behavior = generator.get("behavior", "create")
    existing = [r for r in resources if r.generated and r.obj["metadata"]["name"] == name]
    if behavior == "create":
        if existing:
            raise ValueError(f"{directory}: ConfigMap {name} already generated; use behavior merge")
        metadata: dict[str, Any] = {"name": name}
        if "namespace" in generator:
            metadata["namespace"] = generator["namespace"]
        resources.append(
            _Resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}, True)
        )
        return
    if len(existing) != 1:
        raise ValueError(f"{directory}: behavior {behavior} but no generated ConfigMap {name} upstream")
    if behavior == "merge":
        existing[0].obj.setdefault("data", {}).update(data)
    elif behavior == "replace":
        existing[0].obj["data"] = data
    else:
        raise UnsupportedFeature(f"{directory}: configMapGenerator behavior {behavior}")


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix: sha256 of the JSON of kind, data and the (empty) name, 10 characters."""
    encoded = json.dumps(
        {"kind": "ConfigMap", "name": "", "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go's json.Marshal escapes these three characters.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


# --- patches -------------------------------------------------------------------------------------


def _apply_patch(directory: Path, entry: dict[str, Any], resources: list[_Resource]) -> None:
    if set(entry) - {"path", "patch"} or ("path" in entry) == ("patch" in entry):
        raise UnsupportedFeature(f"{directory}: patches need exactly one of path/patch and no target/options")
    text = (directory / entry["path"]).read_text() if "path" in entry else entry["patch"]
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise UnsupportedFeature(f"{directory}: one strategic-merge patch per entry (no JSON 6902 lists)")
    patch = docs[0]
    kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
    targets = [r for r in resources if r.obj["kind"] == kind and r.obj["metadata"]["name"] == name]
    if len(targets) != 1:
        raise ValueError(f"{directory}: patch for {kind}/{name} matches {len(targets)} objects")
    body = {key: value for key, value in patch.items() if key not in ("apiVersion", "kind")}
    targets[0].obj = _merge(targets[0].obj, body, path=f"{kind}/{name}")


def _merge(base: Any, patch: Any, *, path: str, field: str = "") -> Any:
    if isinstance(patch, dict):
        if any(key.startswith("$") for key in patch):
            raise UnsupportedFeature(f"{path}: patch directives ($patch, $setElementOrder, ...)")
        if not isinstance(base, dict):
            return copy.deepcopy(patch)
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, path=f"{path}.{key}", field=key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(patch, list) and isinstance(base, list):
        if not any(isinstance(item, dict) for item in patch + base):
            return copy.deepcopy(patch)  # lists of scalars (command, args) are replaced
        key = MERGE_KEYS.get(field)
        if key is None:
            raise UnsupportedFeature(f"{path}: no known strategic-merge key for list field {field!r}")
        by_key = {item[key]: item for item in base}
        result = [
            _merge(by_key[item[key]], item, path=f"{path}[{item[key]}]")
            if item[key] in by_key
            else copy.deepcopy(item)
            for item in patch
        ]
        patched = {item[key] for item in patch}
        return result + [item for item in base if item[key] not in patched]
    return copy.deepcopy(patch)


# --- images and final names ------------------------------------------------------------------------


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


def _split_image(image: str) -> tuple[str, str, str]:
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def _set_image(entry: dict[str, Any], resources: list[_Resource]) -> None:
    if set(entry) - {"name", "newName", "newTag", "digest"}:
        raise UnsupportedFeature(f"images entry {entry}")
    for res in resources:
        for spec in pod_specs(res.obj):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name, tag, digest = _split_image(container["image"])
                if name != entry["name"]:
                    continue
                name = entry.get("newName", name)
                if "digest" in entry:
                    container["image"] = f"{name}@{entry['digest']}"
                    continue
                tag = str(entry.get("newTag", tag))
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _finalize(resources: list[_Resource]) -> list[dict[str, Any]]:
    renames: dict[str, str] = {}
    for res in resources:
        if res.generated:
            old = res.obj["metadata"]["name"]
            new = f"{old}-{config_map_hash(res.obj.get('data', {}))}"
            res.obj["metadata"]["name"] = renames[old] = new
    for res in resources:
        for spec in pod_specs(res.obj):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef")
                    if ref and ref.get("name") in renames:
                        ref["name"] = renames[ref["name"]]
                for env in container.get("env", []):
                    ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                    if ref and ref.get("name") in renames:
                        ref["name"] = renames[ref["name"]]
            for volume in spec.get("volumes", []):
                refs = [volume.get("configMap")] + [
                    s.get("configMap") for s in (volume.get("projected") or {}).get("sources", [])
                ]
                for ref in refs:
                    if ref and ref.get("name") in renames:
                        ref["name"] = renames[ref["name"]]
    return [res.obj for res in resources]
