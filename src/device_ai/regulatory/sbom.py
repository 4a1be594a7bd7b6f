"""The software bill of materials: a CycloneDX SBOM of the installed environment, merged with
the curated SOUP fields (IEC 62304 8.1.2, 5.3.3, 5.3.4, 7.1.3; FDA section 524B SBOM).

What it lists: ``device-ai`` as the main component and every installed distribution in the
closure of its runtime requirements (``importlib.metadata.requires("device-ai")`` without
extras, then theirs, markers evaluated for this interpreter), with ``scope: required``; then
the closure of the ``[train]`` extra that is not already runtime, with ``scope: optional``
(training, export and explanations; not in the analyze-only deployment). Development tools
(pytest, this generator) are not part of the device and are not listed.

Each component carries its version, a ``pkg:pypi`` package URL, the licence and publisher
from its metadata, and the SHA-256 of its ``RECORD``; a curated SOUP item adds its
IEC 62304 fields as ``device-ai:soup:*`` properties. A transitive component that is not
curated on its own says which curated packages pull it in.

The document is byte-reproducible: components and properties are sorted, the serial number
is a name-based UUID of the content, and the timestamp is a recorded input (the date of the
test run the package reports on), never the wall clock.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from device_ai.errors import DependencyMissing, TraceabilityError
from device_ai.regulatory import runtime_components
from device_ai.regulatory.items import normalize_package
from device_ai.regulatory.runtime_components import ExtraComponent

MAIN = "device-ai"
SPEC_VERSION = "1.6"
SBOM_NAMESPACE = uuid.UUID("6f0b7c2e-3d7b-5a51-9c55-2f1e2b8f4d10")
SOUP_FIELDS = ("purpose", "functional_requirements", "performance_requirements", "hardware_software_requirements",
               "anomaly_review")


normalize = normalize_package  # PEP 503 names, as the SOUP items use them


@dataclass(frozen=True)
class Package:
    """One installed distribution of the SBOM: identity, scope and who pulls it in."""

    name: str
    version: str
    scope: str  # "required" (runtime closure) or "optional" ([train] closure)
    requires: tuple[str, ...]  # normalized names inside the closure
    summary: str | None = None
    publisher: str | None = None
    license: str | None = None
    record_sha256: str | None = None
    required_by: tuple[str, ...] = field(default=())


def _distribution(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _marker_ok(marker: Any, extras: Iterable[str]) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in (*extras, ""))


def _requirements(dist: metadata.Distribution, extras: Iterable[str]) -> list[str]:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError as exc:  # pragma: no cover - packaging comes with pytest and the dev extra
        raise DependencyMissing("the SBOM needs the 'packaging' package", hint="pip install -e '.[dev]'") from exc
    names = []
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if _marker_ok(requirement.marker, extras):
            names.append(normalize(requirement.name))
    return sorted(set(names))


def _publisher(meta: Any) -> str | None:
    for key in ("Author", "Maintainer"):
        value = meta.get(key)
        if value and value.strip().upper() != "UNKNOWN":
            return " ".join(value.split())
    for key in ("Author-email", "Maintainer-email"):
        value = meta.get(key)
        if value:
            names = [part.split("<")[0].strip().strip('"') for part in value.split(",")]
            names = [n for n in names if n]
            if names:
                return ", ".join(names)
    return None


def _license(meta: Any) -> str | None:
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    classifiers = sorted(c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::"))
    if classifiers:
        return " OR ".join(classifiers) if len(classifiers) > 1 else classifiers[0]
    value = meta.get("License")
    if value and len(value) < 100 and "\n" not in value.strip() and value.strip().upper() != "UNKNOWN":
        return value.strip()
    return None


def _record_sha256(dist: metadata.Distribution) -> str | None:
    text = dist.read_text("RECORD")
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


def closure(main: str = MAIN, extras: Sequence[str] = ("train",)) -> list[Package]:
    """The installed closure of ``main``'s runtime requirements (scope ``required``) and of its
    ``extras`` beyond that (scope ``optional``), sorted by name. Not-installed optional
    requirements are left out; a missing runtime requirement is an error."""
    root = _distribution(main)
    if root is None:
        raise TraceabilityError(f"{main} is not installed, so its environment cannot be listed",
                                hint="pip install -e '.[dev]' in the environment that builds the package")

    def walk(starts: Iterable[str], seen: dict[str, metadata.Distribution], missing_ok: bool) -> None:
        queue = sorted(set(starts))
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            dist = _distribution(name)
            if dist is None:
                if missing_ok:
                    continue
                raise TraceabilityError(f"runtime requirement {name} of {main} is not installed",
                                        hint="install the project with pip install -e . before building the SBOM")
            seen[name] = dist
            queue.extend(r for r in _requirements(dist, ()) if r not in seen)
            queue.sort()

    runtime: dict[str, metadata.Distribution] = {}
    walk(_requirements_without_extras(root), runtime, missing_ok=False)
    optional: dict[str, metadata.Distribution] = dict(runtime)
    extra_names = [n for n in _requirements(root, extras) if n not in _requirements_without_extras(root)]
    walk(extra_names, optional, missing_ok=True)
    optional.pop(normalize(main), None)
    runtime.pop(normalize(main), None)

    members = set(optional)
    required_by: dict[str, set[str]] = {n: set() for n in members}
    requires: dict[str, tuple[str, ...]] = {}
    for name, dist in optional.items():
        deps = tuple(r for r in _requirements(dist, ()) if r in members)
        requires[name] = deps
        for dep in deps:
            required_by[dep].add(name)
    packages = []
    for name in sorted(optional):
        dist = optional[name]
        meta = dist.metadata
        packages.append(Package(
            name=name, version=dist.version, scope="required" if name in runtime else "optional",
            requires=requires[name], summary=(meta.get("Summary") or None), publisher=_publisher(meta),
            license=_license(meta), record_sha256=_record_sha256(dist), required_by=tuple(sorted(required_by[name])),
        ))
    return packages


def _requirements_without_extras(dist: metadata.Distribution) -> list[str]:
    try:
        from packaging.requirements import Requirement
    except ImportError as exc:  # pragma: no cover
        raise DependencyMissing("the SBOM needs the 'packaging' package", hint="pip install -e '.[dev]'") from exc
    names = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(normalize(requirement.name))
    return sorted(set(names))


def runtime_names(main: str = MAIN) -> list[str]:
    """Normalized names of the installed runtime closure of ``main`` (what the SBOM must list)."""
    return [p.name for p in closure(main, extras=()) if p.scope == "required"]


def _bom_ref(name: str, version: str) -> str:
    return f"pkg:pypi/{name}@{version}"


def _soup_properties(soup: Mapping[str, Any]) -> list[tuple[str, str]]:
    props = [("device-ai:soup:id", str(soup["id"])),
             ("device-ai:soup:curated_version", str(soup.get("version", ""))),
             ("device-ai:soup:runtime", "true" if soup.get("runtime") else "false"),
             ("device-ai:soup:software_items", ", ".join(soup.get("software_items", []))),
             ("device-ai:soup:related_risks", ", ".join(soup.get("related_risks", [])))]
    props += [(f"device-ai:soup:{name}", " ".join(str(soup.get(name, "")).split())) for name in SOUP_FIELDS]
    return props


def build_sbom(packages: Sequence[Package], soup: Sequence[Mapping[str, Any]], *, main_version: str,
               timestamp: str | None, tool_version: str, extras: Sequence[ExtraComponent] = (),
               models: Sequence[Mapping[str, Any]] = (), assessments: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The CycloneDX 1.6 SBOM as a JSON-ready dict, merged with the curated ``soup`` items
    (each ``{"id", "package", "version", ...}`` as in ``traceability/soup.yaml``).

    ``extras`` are CPython and the native libraries (:mod:`.runtime_components`), ``models`` the
    locked model packages (``{"id", "name", "version", "manifest_sha256", "package", "manifest"}``),
    listed as ``machine-learning-model`` components with a model card from the manifest;
    ``assessments`` the entries of ``security/components.yaml`` (``{"id", "name", "version",
    "support_level", ..., "vex"}``): each component assessed for its version carries its support
    level, end of support and VEX as ``device-ai:support:*`` / ``device-ai:vex:*`` properties, and
    every known vulnerability is a CycloneDX ``vulnerabilities`` entry with its ``analysis``
    (the VEX lives in the SBOM, so its ``affects`` references cannot drift from the components).

    ``timestamp`` (``YYYY-MM-DDTHH:MM:SSZ``) must be a recorded input; None leaves it out.
    The serial number is derived from the content, so equal inputs give equal bytes.
    """
    try:
        from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
        from cyclonedx.model.bom import Bom, BomMetaData
        from cyclonedx.model.component import Component, ComponentScope, ComponentType
        from cyclonedx.model.dependency import Dependency
        from cyclonedx.model.tool import ToolRepository
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL
    except ImportError as exc:
        raise DependencyMissing("building the SBOM needs cyclonedx-python-lib",
                                hint="pip install -e '.[dev]' (it installs cyclonedx-python-lib)") from exc
    # the model card's file name as the package writes it, never a second spelling (review 149 D1)
    from device_ai.regulatory.render.control import MODEL_CARD_FILE

    curated = {normalize(str(item["package"])): item for item in soup}
    assessed = {(str(a["name"]), str(a["version"])): a for a in assessments}
    root = Component(name=MAIN, version=main_version, type=ComponentType.APPLICATION, bom_ref=_bom_ref(MAIN, main_version),
                     description="device_ai: DINOv2 segmentation of DICOM CT with a locked ONNX Runtime core",
                     purl=PackageURL(type="pypi", name=MAIN, version=main_version))
    tools = ToolRepository(components=[Component(name="device-ai report package", version=tool_version,
                                                 type=ComponentType.APPLICATION)])
    components = []
    for package in packages:
        props: list[tuple[str, str]] = []
        if package.name in curated:
            props += _soup_properties(curated[package.name])
        else:
            pulled = [n for n in package.required_by if n in curated] or list(package.required_by)
            props.append(("device-ai:soup:curated", "no: transitive dependency of " + (", ".join(pulled) or MAIN)))
        if package.record_sha256:
            props.append(("device-ai:record_sha256", package.record_sha256))
        props += _assessment_properties(assessed.get((package.name, package.version)), package.scope == "required")
        licenses = _licenses(package.license)
        components.append(Component(
            name=package.name, version=package.version, type=ComponentType.LIBRARY,
            bom_ref=_bom_ref(package.name, package.version), purl=PackageURL(type="pypi", name=package.name, version=package.version),
            scope=ComponentScope.REQUIRED if package.scope == "required" else ComponentScope.OPTIONAL,
            description=package.summary, publisher=package.publisher, licenses=licenses,
            properties=[Property(name=k, value=v) for k, v in sorted(props)],
        ))
    refs = {package.name: component.bom_ref for package, component in zip(packages, components, strict=True)}
    shipped_by: dict[str, list[Any]] = {}
    extra_components = []
    for extra in extras:
        props = [*runtime_components.properties(extra),
                 *_assessment_properties(assessed.get((extra.name, str(extra.version))), True)]
        component = Component(
            name=extra.name, version=extra.version, bom_ref=extra.bom_ref,
            type=ComponentType.PLATFORM if extra.type == "platform" else ComponentType.LIBRARY,
            purl=PackageURL(type="generic", name=extra.name, version=extra.version), cpe=extra.cpe,
            scope=ComponentScope.REQUIRED, publisher=extra.supplier,
            properties=[Property(name=k, value=v) for k, v in sorted(props)])
        extra_components.append(component)
        for dist in sorted({f.distribution for f in extra.files}):
            shipped_by.setdefault(dist, []).append(component.bom_ref)
    model_components = []
    for model in models:
        props = [("device-ai:model:id", str(model["id"])), ("device-ai:model:package", str(model["package"])),
                 ("device-ai:model:manifest_sha256", str(model["manifest_sha256"]))]
        manifest = model.get("manifest") or {}
        props += [(f"device-ai:model:file:{name}", str(digest)) for name, digest in sorted((manifest.get("files") or
                                                                                            {}).items())]
        props += _assessment_properties(assessed.get((str(model["name"]), str(model["version"]))), True)
        model_components.append(Component(
            name=str(model["name"]), version=str(model["version"]), bom_ref=_model_ref(model),
            type=ComponentType.MACHINE_LEARNING_MODEL, scope=ComponentScope.REQUIRED,
            description=manifest.get("description"), publisher="device_ai manufacturer",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=str(model["manifest_sha256"]))],
            external_references=[ExternalReference(type=ExternalReferenceType.DOCUMENTATION,
                                                   url=XsUri(MODEL_CARD_FILE),
                                                   comment="the model card of the submission package")],
            properties=[Property(name=k, value=v) for k, v in sorted(props)]))
    direct = sorted(n for n in _main_direct() if n in refs)
    root_deps = [refs[n] for n in direct if n in refs]
    root_deps += [c.bom_ref for c in extra_components if c.type == ComponentType.PLATFORM]
    root_deps += [c.bom_ref for c in model_components]
    dependencies = [Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=r) for r in root_deps])]
    dependencies += [Dependency(ref=component.bom_ref,
                                dependencies=[Dependency(ref=refs[d]) for d in package.requires]
                                + [Dependency(ref=r) for r in shipped_by.get(package.name, [])])
                     for package, component in zip(packages, components, strict=True)]
    dependencies += [Dependency(ref=c.bom_ref) for c in (*extra_components, *model_components)]
    bom = Bom(components=[*components, *extra_components, *model_components],
              metadata=BomMetaData(component=root, tools=tools), dependencies=dependencies)
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    cards = {_model_ref(m): model_card(m.get("manifest") or {}) for m in models}
    for component in data.get("components", []):
        if component["bom-ref"] in cards:
            component["modelCard"] = cards[component["bom-ref"]]
    refs_by_key = {(c["name"], c.get("version")): c["bom-ref"] for c in data.get("components", [])}
    vulnerabilities = _vulnerabilities(assessments, refs_by_key)
    if vulnerabilities:
        data["vulnerabilities"] = vulnerabilities
    return _deterministic(data, timestamp)


def _model_ref(model: Mapping[str, Any]) -> str:
    return f"model:{model['name']}@{model['version']}"


def _assessment_properties(entry: Mapping[str, Any] | None, runtime: bool) -> list[tuple[str, str]]:
    """The 524B fields of a component's entry in ``security/components.yaml`` as SBOM properties;
    a runtime component without one says so (the release gate refuses it: :mod:`.supply_chain`)."""
    if entry is None:
        return [("device-ai:vex:status", "not assessed: no entry in security/components.yaml for this version "
                 "(a gap of trace check --release)")] if runtime else []
    props = [("device-ai:sbom:entry", str(entry["id"]))]
    for key in ("support_level", "support_source", "end_of_support", "end_of_support_note"):
        if entry.get(key):
            props.append((f"device-ai:support:{key}", " ".join(str(entry[key]).split())))
    vex = entry.get("vex")
    if not vex:
        props.append(("device-ai:vex:status", "not assessed: the entry has no vulnerability assessment (a gap of "
                      "trace check --release)"))
        return props
    props += [("device-ai:vex:status", "assessed"), ("device-ai:vex:date", str(vex["date"])),
              ("device-ai:vex:assessor", str(vex["assessor"])),
              ("device-ai:vex:sources", " | ".join(" ".join(str(s).split()) for s in vex["sources"]))]
    if vex.get("no_known_vulnerability"):
        props.append(("device-ai:vex:no_known_vulnerability", " ".join(str(vex["no_known_vulnerability"]).split())))
    else:
        props.append(("device-ai:vex:known_vulnerabilities", ", ".join(v["id"] for v in vex["vulnerabilities"])))
    return props


def _vulnerabilities(assessments: Sequence[Mapping[str, Any]],
                     refs: Mapping[tuple[str, str | None], str]) -> list[dict[str, Any]]:
    """One CycloneDX vulnerability per (ID, affected component) with its VEX ``analysis``."""
    found = []
    for entry in assessments:
        ref = refs.get((str(entry["name"]), str(entry["version"])))
        vex = entry.get("vex") or {}
        if ref is None:
            continue
        for vulnerability in vex.get("vulnerabilities") or ():
            analysis: dict[str, Any] = {"state": vulnerability["state"],
                                        "detail": " ".join(str(vulnerability["detail"]).split()),
                                        "lastUpdated": f"{vex['date']}T00:00:00Z"}
            if vulnerability.get("justification"):
                analysis["justification"] = vulnerability["justification"]
            found.append({"bom-ref": f"vex:{vulnerability['id']}:{ref}", "id": vulnerability["id"],
                          "source": {"url": vulnerability["source"]}, "analysis": analysis,
                          "affects": [{"ref": ref}],
                          "properties": [{"name": "device-ai:vex:assessor", "value": str(vex["assessor"])},
                                         {"name": "device-ai:sbom:entry", "value": str(entry["id"])}]})
    return sorted(found, key=lambda v: v["bom-ref"])


def model_card(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A CycloneDX ``modelCard`` from the fields of a locked model package's manifest: architecture,
    input and output, the intended use and clinical-use flag, and the metrics with their 95 %
    confidence intervals as the manifest states them (nothing added)."""
    from device_ai.regulatory.render.control import MODEL_CARD_FILE  # the file the package writes

    card: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    architecture = manifest.get("architecture") or {}
    if architecture.get("kind"):
        parameters["architectureFamily"] = str(architecture["kind"])
    if manifest.get("description"):
        parameters["modelArchitecture"] = str(manifest["description"])
    for key, name in (("input", "inputs"), ("output", "outputs")):
        spec = manifest.get(key) or {}
        if spec:
            parameters[name] = [{"format": f"{spec.get('name', key)}: {spec.get('dtype', '?')} "
                                           f"{list(spec.get('shape') or [])}"}]
    if parameters:
        card["modelParameters"] = parameters
    metrics = []
    for name, value in sorted((manifest.get("metrics") or {}).items()):
        if not isinstance(value, Mapping):
            continue
        figure = value.get("mean", value.get("value"))
        if figure is None:
            continue
        metric: dict[str, Any] = {"type": name, "value": repr(figure)}
        if isinstance(value.get("ci95"), list) and len(value["ci95"]) == 2:
            metric["confidenceInterval"] = {"lowerBound": repr(value["ci95"][0]), "upperBound": repr(value["ci95"][1])}
        metrics.append(metric)
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    considerations: dict[str, Any] = {}
    if manifest.get("intended_use"):
        considerations["useCases"] = [" ".join(str(manifest["intended_use"]).split())]
    if manifest.get("clinical_use") is False:
        considerations["technicalLimitations"] = ["clinical_use: false (the manifest marks the model not for "
                                                  "clinical use)"]
    if considerations:
        card["considerations"] = considerations
    card["properties"] = [{"name": "device-ai:model_card", "value": f"{MODEL_CARD_FILE} (the package's model card, "
                           "rendered from the same manifest)"}]
    return card


def _main_direct() -> set[str]:
    """The direct requirements of device-ai: runtime and the [train] extra."""
    root = _distribution(MAIN)
    return set(_requirements_without_extras(root)) | set(_requirements(root, ("train",))) if root else set()


def _licenses(expression: str | None) -> list[Any]:
    if not expression:
        return []
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11
        from cyclonedx.factory.license import LicenseFactory

    try:
        return [LicenseFactory().make_from_string(expression)]
    except Exception:  # noqa: BLE001 - an unparseable licence string becomes a named licence
        from cyclonedx.model.license import DisjunctiveLicense

        return [DisjunctiveLicense(name=expression)]


def _deterministic(data: dict[str, Any], timestamp: str | None) -> dict[str, Any]:
    data.pop("serialNumber", None)
    meta = data.setdefault("metadata", {})
    meta.pop("timestamp", None)
    if timestamp is not None:
        meta["timestamp"] = timestamp
    digest = hashlib.sha256(sbom_text(data).encode("utf-8")).hexdigest()
    data["serialNumber"] = f"urn:uuid:{uuid.uuid5(SBOM_NAMESPACE, digest)}"
    return data


def sbom_text(data: Mapping[str, Any]) -> str:
    """The canonical JSON text of an SBOM (sorted keys, two-space indent, final newline)."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def validate(text: str) -> None:
    """Validate SBOM JSON text against the CycloneDX 1.6 JSON schema (strict); a typed error if not."""
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    except ImportError as exc:
        raise DependencyMissing("validating the SBOM needs cyclonedx-python-lib[json-validation]",
                                hint="pip install -e '.[dev]'") from exc
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise TraceabilityError(f"the SBOM does not validate against CycloneDX {SPEC_VERSION}: {error}",
                                hint="report this as a defect of device_ai.regulatory.sbom")
