"""The SBOM at FDA 524B level (issue 19 item 2, SRS-198): CPython, the native libraries of the runtime
wheels and the model package are components, each runtime component carries its support level, end of
support and VEX (or says it is not assessed), known vulnerabilities carry their analysis, and the
document stays valid CycloneDX 1.6."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from device_ai.regulatory import runtime_components, sbom

from .conftest import DATE
from .test_sbom import installed_runtime_closure


@pytest.fixture(scope="module")
def document(package_dir: Path) -> dict[str, Any]:
    return json.loads((package_dir / "sbom.cdx.json").read_text(encoding="utf-8"))


def by_name(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for component in document["components"]:
        found.setdefault(component["name"], []).append(component)
    return found


def props(component: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        found.setdefault(p["name"], []).append(p["value"])
    return found


@pytest.mark.req("SRS-198")
def test_cpython_is_listed_at_the_running_version(document: dict[str, Any]) -> None:
    [python] = by_name(document)["cpython"]
    assert (python["type"], python["version"]) == ("platform", platform.python_version())
    assert python["cpe"] == f"cpe:2.3:a:python:python:{platform.python_version()}:*:*:*:*:*:*:*"
    assert python["scope"] == "required"
    import ssl

    assert props(python)["device-ai:host_library:openssl"][0].startswith(ssl.OPENSSL_VERSION)
    root = next(d for d in document["dependencies"] if d["ref"] == document["metadata"]["component"]["bom-ref"])
    assert python["bom-ref"] in root["dependsOn"]


@pytest.mark.req("SRS-198")
def test_the_model_is_a_machine_learning_model_component(document: dict[str, Any], project: Path) -> None:
    [manifest_path] = sorted(project.glob("models/*/manifest.json"))
    manifest = json.loads(manifest_path.read_bytes())
    [model] = by_name(document)[manifest["name"]]
    assert (model["type"], model["version"], model["scope"]) == ("machine-learning-model", manifest["version"], "required")
    assert model["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(manifest_path.read_bytes()).hexdigest()}]
    assert {"type": "documentation", "url": "model-card.html",
            "comment": "the model card of the submission package"} in model["externalReferences"]
    card = model["modelCard"]
    metrics = {m["type"]: m for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    organ = manifest["metrics"]["organ_dice"]
    assert metrics["organ_dice"]["value"] == repr(organ["mean"])
    assert metrics["organ_dice"]["confidenceInterval"] == {"lowerBound": repr(organ["ci95"][0]),
                                                          "upperBound": repr(organ["ci95"][1])}
    assert card["considerations"]["useCases"] == [" ".join(manifest["intended_use"].split())]
    files = props(model)
    for name, digest in manifest["files"].items():
        assert files[f"device-ai:model:file:{name}"] == [digest]


def package_files_not_found(document: dict[str, Any], package: Path) -> list[str]:
    """The package files the SBOM refers to (a relative external reference, the model card's own
    pointer) that the package does not hold."""
    named = [r["url"] for c in document["components"] for r in c.get("externalReferences", ())
             if "://" not in r["url"]]
    named += [p["value"].split()[0] for c in document["components"]
              for p in (c.get("modelCard") or {}).get("properties", ()) if p["name"] == "device-ai:model_card"]
    assert named, "the SBOM names no file of the package"
    return [name for name in named if not (package / name).is_file()]


@pytest.mark.req("SRS-198")
def test_the_sbom_refers_only_to_files_the_package_holds(document: dict[str, Any], package_dir: Path) -> None:
    # review 149 D1: the model referred to model_card.html, a file no package holds
    assert package_files_not_found(document, package_dir) == []
    # negative control: the model's reference under a name the package does not write is found
    wrong = json.loads(json.dumps(document))
    [model] = [c for c in wrong["components"] if c["type"] == "machine-learning-model"]
    model["externalReferences"][0]["url"] = "model_card.html"
    assert package_files_not_found(wrong, package_dir) == ["model_card.html"]


@pytest.mark.req("SRS-198")
def test_native_libraries_are_listed_with_the_versions_they_report(document: dict[str, Any]) -> None:
    components = by_name(document)
    from cryptography.hazmat.backends.openssl.backend import backend

    openssl = backend.openssl_version_text().split()[1]
    assert [c["version"] for c in components["openssl"]] == [openssl]
    import onnxruntime

    assert [c["version"] for c in components["libonnxruntime"]] == [onnxruntime.__version__]
    import numpy

    blas = numpy.__config__.CONFIG["Build Dependencies"]["blas"]["version"]
    assert blas in {c["version"] for c in components["openblas"]}
    from PIL import features

    assert [c["version"] for c in components["libjpeg-turbo"]] == [features.version("libjpeg_turbo")]
    # every library vendored in a runtime wheel's .libs folder is a listed file (found here by the
    # file system, independently of the RECORD scan of the module under test)
    listed = {v.split(": ", 1)[1].split(" sha256=")[0] for c in document["components"]
              for v in props(c).get("device-ai:native:file", [])}
    site = Path(sysconfig.get_paths()["purelib"])
    runtime = installed_runtime_closure()
    vendored = {p.relative_to(site).as_posix() for p in site.glob("*.libs/*.so*")
                if re.sub(r"[-_.]+", "-", p.parent.name.removesuffix(".libs")).lower() in runtime}
    assert vendored and vendored <= listed
    labelled = [c for c in components["libpng"]]
    assert labelled and "shared-object version" in props(labelled[0])["device-ai:version_source"][0]


@pytest.mark.req("SRS-198")
def test_every_runtime_component_says_whether_it_is_assessed(document: dict[str, Any]) -> None:
    runtime = [c for c in document["components"] if c.get("scope") == "required"]
    assert len(runtime) >= len(installed_runtime_closure()) + 3
    for component in runtime:
        status = props(component).get("device-ai:vex:status")
        assert status and (status[0] == "assessed" or status[0].startswith("not assessed")), component["name"]
        if status[0] == "assessed":
            p = props(component)
            assert p["device-ai:vex:date"] and p["device-ai:vex:assessor"] and p["device-ai:vex:sources"]
            assert p["device-ai:sbom:entry"]  # the components.yaml entry it comes from
    python = props(by_name(document)["cpython"][0])  # the curated entry's support fields reach the SBOM
    assert python["device-ai:support:support_level"] == ["security-fixes-only"]
    assert python["device-ai:support:end_of_support"] == ["2027-10-31"]


def _entry(name: str, version: str, vulnerabilities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"CMP-{name}", "name": name, "version": version, "support_level": "actively-maintained",
            "support_source": "https://example.invalid", "end_of_support": "2027-10-31",
            "vex": {"date": "2026-11-01", "assessor": "Ass Essor", "sources": ["OSV"], "vulnerabilities": vulnerabilities}}


@pytest.mark.req("SRS-198")
def test_known_vulnerabilities_carry_their_analysis_and_stay_valid_cyclonedx() -> None:
    packages = sbom.closure()
    extras = runtime_components.extra_components(p.name for p in packages if p.scope == "required")
    numpy_version = next(p.version for p in packages if p.name == "numpy")
    vulnerability = {"id": "CVE-2026-0001", "source": "https://example.invalid/CVE-2026-0001", "state": "not_affected",
                     "justification": "code_not_reachable", "detail": "Synthetic: the affected function is not called."}
    document = sbom.build_sbom(packages, [], main_version="0.1.0", timestamp=DATE, tool_version="0.1.0", extras=extras,
                               assessments=[_entry("numpy", numpy_version, [vulnerability])])
    text = sbom.sbom_text(document)
    sbom.validate(text)
    [found] = document["vulnerabilities"]
    assert found["id"] == "CVE-2026-0001" and found["affects"] == [{"ref": f"pkg:pypi/numpy@{numpy_version}"}]
    assert found["analysis"]["state"] == "not_affected" and found["analysis"]["justification"] == "code_not_reachable"
    numpy_props = props(by_name(document)["numpy"][0])
    assert numpy_props["device-ai:vex:known_vulnerabilities"] == ["CVE-2026-0001"]
    broken = json.loads(text)
    broken["vulnerabilities"][0]["analysis"]["state"] = "fine"
    from device_ai.errors import TraceabilityError

    with pytest.raises(TraceabilityError):
        sbom.validate(json.dumps(broken))
