"""The CycloneDX SBOM: valid against the schema, every installed runtime package with its version,
merged with the SOUP curation, reproducible (SRS-047)."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from device_ai.regulatory import sbom

from .conftest import DATE


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_runtime_closure() -> dict[str, str]:
    """Written independently of the module under test: requires('device-ai') without extras, then
    the requirements of each, markers evaluated with no extra; ``{name: installed version}``."""
    found: dict[str, str] = {}
    queue = [r for r in metadata.requires("device-ai") or []]
    while queue:
        requirement = Requirement(queue.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _norm(requirement.name)
        if name in found:
            continue
        found[name] = metadata.version(requirement.name)  # a missing runtime package fails here
        queue.extend(metadata.requires(requirement.name) or [])
    return found


@pytest.fixture(scope="module")
def document(package_dir: Path) -> dict[str, Any]:
    return json.loads((package_dir / "sbom.cdx.json").read_text(encoding="utf-8"))


@pytest.mark.req("SRS-047")
def test_sbom_validates_against_the_cyclonedx_schema(package_dir: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = (package_dir / "sbom.cdx.json").read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    broken = json.loads(text)
    broken["components"][0]["scope"] = "sometimes"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(broken)) is not None


@pytest.mark.req("SRS-047")
def test_sbom_lists_every_installed_runtime_package_with_its_version(document: dict[str, Any]) -> None:
    expected = installed_runtime_closure()
    assert {"numpy", "onnxruntime", "pydicom", "cryptography", "pydantic-core"} <= set(expected)
    components = {c["name"]: c for c in document["components"]}
    for name, version in sorted(expected.items()):
        assert name in components, f"runtime package {name} missing from the SBOM"
        component = components[name]
        assert component["version"] == version and component["scope"] == "required"
        assert component["purl"] == f"pkg:pypi/{name}@{version}"
    assert "torch" not in expected and components["torch"]["scope"] == "optional"
    assert not {"pytest", "hypothesis", "jinja2-cli"} & set(components) or components.get("pytest") is None
    main = document["metadata"]["component"]
    assert (main["name"], main["version"]) == ("device-ai", metadata.version("device-ai"))
    refs = {c["bom-ref"] for c in document["components"]}
    root = next(d for d in document["dependencies"] if d["ref"] == main["bom-ref"])
    assert {f"pkg:pypi/{n}@{v}" for n, v in expected.items() if n in {"numpy", "pydicom"}} <= set(root["dependsOn"])
    assert all(set(d.get("dependsOn", [])) <= refs for d in document["dependencies"])


@pytest.mark.req("SRS-047")
def test_curated_soup_fields_are_merged_into_the_components(document: dict[str, Any], graph: dict[str, Any]) -> None:
    components = {c["name"]: {p["name"]: p["value"] for p in c.get("properties", [])} for c in document["components"]}
    soup = [n for n in graph["nodes"] if n["kind"] == "soup"]
    assert soup
    for node in soup:
        props = components[node["fields"]["package"]]
        assert props["device-ai:soup:id"] == node["id"]
        assert props["device-ai:soup:curated_version"] == node["fields"]["version"]
        for key in ("purpose", "functional_requirements", "performance_requirements", "hardware_software_requirements",
                    "anomaly_review"):
            assert props[f"device-ai:soup:{key}"] == " ".join(node["fields"][key].split())
        assert props["device-ai:soup:related_risks"] == ", ".join(node["fields"]["related_risks"])
    assert components["typing-extensions"]["device-ai:soup:curated"].startswith("no: transitive dependency of")


@pytest.mark.req("SRS-047")
def test_serial_number_and_timestamp_are_derived_not_drawn(document: dict[str, Any]) -> None:
    assert document["metadata"]["timestamp"] == DATE  # the recorded run date, not the wall clock
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        document["serialNumber"])
    packages = sbom.closure()
    first = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0")
    again = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0")
    other = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp="2026-12-01T00:00:00Z", tool_version="0.1.0")
    assert sbom.sbom_text(first) == sbom.sbom_text(again)
    assert first["serialNumber"] != other["serialNumber"]
    without = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=None, tool_version="0.1.0")
    assert "timestamp" not in without["metadata"]
    sbom.validate(sbom.sbom_text(without))
