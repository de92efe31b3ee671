"""Fixtures of the deployment checks: the rendered kustomizations (``kubectl kustomize``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.checks import ROOT, render_overlay

KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/prod")
#: Kustomizations of custom resources only (Strimzi, Prometheus Operator).
OPERATOR_KUSTOMIZATIONS = ("overlays/strimzi", "overlays/monitoring")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization under k8s/, rendered once per session."""
    return {name: render_overlay(ROOT / "k8s" / name) for name in (*KUSTOMIZATIONS, *OPERATOR_KUSTOMIZATIONS)}
