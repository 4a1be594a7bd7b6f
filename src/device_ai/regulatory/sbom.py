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
from device_ai.regulatory.items import normalize_package

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
               timestamp: str | None, tool_version: str) -> dict[str, Any]:
    """The CycloneDX 1.6 SBOM as a JSON-ready dict, merged with the curated ``soup`` items
    (each ``{"id", "package", "version", ...}`` as in ``traceability/soup.yaml``).

    ``timestamp`` (``YYYY-MM-DDTHH:MM:SSZ``) must be a recorded input; None leaves it out.
    The serial number is derived from the content, so equal inputs give equal bytes.
    """
    try:
        from cyclonedx.model import Property
        from cyclonedx.model.bom import Bom, BomMetaData
        from cyclonedx.model.component import Component, ComponentScope, ComponentType
        from cyclonedx.model.dependency import Dependency
        from cyclonedx.model.tool import ToolRepository
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL
    except ImportError as exc:
        raise DependencyMissing("building the SBOM needs cyclonedx-python-lib",
                                hint="pip install -e '.[dev]' (it installs cyclonedx-python-lib)") from exc

    curated = {normalize(str(item["package"])): item for item in soup}
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
        licenses = _licenses(package.license)
        components.append(Component(
            name=package.name, version=package.version, type=ComponentType.LIBRARY,
            bom_ref=_bom_ref(package.name, package.version), purl=PackageURL(type="pypi", name=package.name, version=package.version),
            scope=ComponentScope.REQUIRED if package.scope == "required" else ComponentScope.OPTIONAL,
            description=package.summary, publisher=package.publisher, licenses=licenses,
            properties=[Property(name=k, value=v) for k, v in sorted(props)],
        ))
    refs = {package.name: component.bom_ref for package, component in zip(packages, components, strict=True)}
    direct = sorted(n for n in _main_direct() if n in refs)
    dependencies = [Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=refs[n]) for n in direct if n in refs])]
    dependencies += [Dependency(ref=component.bom_ref,
                                dependencies=[Dependency(ref=refs[d]) for d in package.requires])
                     for package, component in zip(packages, components, strict=True)]
    bom = Bom(components=components, metadata=BomMetaData(component=root, tools=tools), dependencies=dependencies)
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    return _deterministic(data, timestamp)


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
