"""Re-extract the vendored CRD schemas: ``python -m tests.deploy.schemas.extract CRD.yaml... ``.

Writes ``<kind>-<group>-<version>.json`` next to this file: the ``openAPIV3Schema`` of every served
version of each CustomResourceDefinition, unchanged. See PROVENANCE.md for where the CRDs came from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def extract(crd_file: Path) -> list[Path]:
    written = []
    for crd in yaml.safe_load_all(crd_file.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            target = HERE / f"{kind.lower()}-{group}-{version['name']}.json"
            schema = version["schema"]["openAPIV3Schema"]
            target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            written.append(target)
    return written


if __name__ == "__main__":
    for name in sys.argv[1:]:
        for path in extract(Path(name)):
            print(path.relative_to(HERE))
