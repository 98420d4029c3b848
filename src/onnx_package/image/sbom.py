"""The image's ML-BOM: a CycloneDX 1.6 document of what is inside, bound to the image's digest.

It lists the model (a `machine-learning-model` component: version, sha256, where it came from, tokenizer,
task, signature), the base image by digest and every Python package baked in, with the sha256 of the wheel
the lock pinned. It is made from facts the run already holds, so the same image gives the same document.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onnx_serve.tensors import TensorSpec

from .. import __version__
from ..model.inspection import Inspection
from .base_image import BaseImage, parse_base
from .build import timestamp

SPEC_VERSION = "1.6"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
SBOM_FILE = "onnx-package.sbom.cdx.json"
TOOL = "onnx-package-action"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str  # of the wheel installed ("" when unknown)
    wheels: tuple[tuple[str, str], ...] = ()  # (platform, sha256) when the platforms' wheels differ


def installed_packages(report: Path) -> list[Package]:
    """What pip installed into the image's dependencies layer, from its installation report (`--report`)."""
    packages = []
    for item in json.loads(report.read_text()).get("install", []):
        hashes = (item.get("download_info", {}).get("archive_info", {}) or {}).get("hashes", {}) or {}
        meta = item.get("metadata", {})
        packages.append(Package(str(meta.get("name")), str(meta.get("version")), str(hashes.get("sha256", ""))))
    return sorted(packages, key=lambda package: package.name.lower())


def platform_packages(reports: dict[str, Path]) -> list[Package]:
    """The packages of several platforms' images: the same names and versions (one lock), each listed once; a
    compiled package's wheel differs per platform, so then each platform's wheel hash is named instead."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for platform, report in reports.items():
        for package in installed_packages(report):
            found.setdefault((package.name, package.version), {})[platform] = package.sha256
    packages = []
    for (name, version), hashes in found.items():
        one = set(hashes.values())
        packages.append(
            Package(name, version, one.pop(), ())
            if len(one) == 1
            else Package(name, version, "", tuple(sorted(hashes.items())))
        )
    return sorted(packages, key=lambda package: package.name.lower())


def signature(tensors: tuple[TensorSpec, ...]) -> list[dict[str, str]]:
    return [
        {"format": f"{t.name}: {t.type} {[d if d is not None else '?' for d in t.declared_shape]}"} for t in tensors
    ]


def model_component(inspection: Inspection, origin: str, tokenizer: str) -> dict[str, Any]:
    spec = inspection.spec
    component: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": str(spec["name"]),
        "version": str(spec["version"]),
        "hashes": [{"alg": "SHA-256", "content": str(spec["sha256"])}],
        "modelCard": {
            "modelParameters": {
                "task": inspection.task,
                "inputs": signature(inspection.inputs),
                "outputs": signature(inspection.outputs),
            }
        },
        "properties": [{"name": "onnx-package:model-file", "value": str(spec["model_file"])}],
    }
    if origin:
        component["externalReferences"] = [{"type": "distribution", "url": origin}]
    if tokenizer:
        component["properties"].append({"name": "onnx-package:tokenizer", "value": tokenizer})
    if spec.get("served_sha256") and spec["served_sha256"] != spec["sha256"]:  # optimize / quantize served another
        component["properties"].append({"name": "onnx-package:served-sha256", "value": str(spec["served_sha256"])})
    if spec.get("labels"):
        component["properties"].append({"name": "onnx-package:class-labels", "value": ",".join(spec["labels"])})
    return component


def base_component(base: BaseImage) -> dict[str, Any]:
    ref = parse_base(base.name)
    component: dict[str, Any] = {
        "type": "container",
        "bom-ref": "base-image",
        "name": ref.repository.name,
        "version": base.digest or base.image_id,
    }
    if base.digest:
        component["hashes"] = [{"alg": "SHA-256", "content": base.digest.removeprefix("sha256:")}]
        component["purl"] = oci_purl(ref.repository.name, base.digest)
    return component


def oci_purl(name: str, digest: str) -> str:
    """pkg:oci/<last path part>@<digest>?repository_url=<registry/path>, as the purl spec writes OCI images."""
    return f"pkg:oci/{name.rsplit('/', 1)[-1]}@{urllib.parse.quote(digest)}?repository_url={urllib.parse.quote(name)}"


def package_component(package: Package) -> dict[str, Any]:
    purl = f"pkg:pypi/{package.name.lower().replace('_', '-')}@{package.version}"
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl,
        "name": package.name,
        "version": package.version,
        "purl": purl,
    }
    if package.sha256:
        component["hashes"] = [{"alg": "SHA-256", "content": package.sha256}]
    if package.wheels:
        component["properties"] = [
            {"name": f"onnx-package:wheel-sha256:{platform}", "value": sha256} for platform, sha256 in package.wheels
        ]
    return component


def ml_bom(
    *,
    image_name: str,
    image_digest: str,
    inspection: Inspection,
    origin: str,
    tokenizer: str,
    base: BaseImage,
    packages: list[Package],
    created: int,
) -> dict[str, Any]:
    """The document; its serial number comes from the image's digest, so a rebuild gives the same bytes."""
    components = [
        model_component(inspection, origin, tokenizer),
        base_component(base),
        *(package_component(package) for package in packages),
    ]
    image: dict[str, Any] = {
        "type": "container",
        "bom-ref": "image",
        "name": image_name,
        "version": image_digest,
        "hashes": [{"alg": "SHA-256", "content": image_digest.removeprefix("sha256:")}],
    }
    if image_digest.startswith("sha256:") and "/" in image_name:
        image["purl"] = oci_purl(image_name, image_digest)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"{image_name}@{image_digest}").urn,
        "metadata": {
            "timestamp": timestamp(created),
            "component": image,
            "tools": {"components": [{"type": "application", "name": TOOL, "version": __version__}]},
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": [c["bom-ref"] for c in components]}],
    }


def bom_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write_bom(document: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bom_bytes(document))
    return path


def summary_line(document: dict[str, Any]) -> str:
    model = document["components"][0]
    packages = sum(1 for c in document["components"] if c["type"] == "library")
    return (
        f"ML-BOM (CycloneDX {SPEC_VERSION}): model {model['name']} {model['version']} "
        f"sha256 {model['hashes'][0]['content'][:12]}…, base {document['components'][1]['version'][:19]}…, "
        f"{packages} Python packages"
    )
