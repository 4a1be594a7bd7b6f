"""Load the device file (``traceability/``, ``risk/``, ``security/``, ``models/*/manifest.json``) into typed items.

Every problem is reported with ``file:line`` and the item's ID: a malformed item (missing field,
value outside its set, ID of the wrong form, unknown field), a duplicate ID, a YAML syntax error,
or a dangling reference (``satisfies: [UN-999]`` when no UN-999 exists). All problems of all files
are collected and raised together as one :class:`~device_ai.errors.TraceabilityError`
(IEC 62304 5.2.6 d, e: requirements uniquely identified and traceable; ISO 14971 4.5 risk file).

A missing file is not an error here: the items it would hold are absent, and ``trace check``
reports the missing document (IEC 62304 class-specific documents).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from device_ai.errors import TraceabilityError
from device_ai.regulatory.items import (
    Anomaly,
    BenefitRisk,
    Hazard,
    HazardousSituation,
    Item,
    ModelArtefact,
    Review,
    RiskControl,
    RiskManagementPlan,
    SoftwareItem,
    SoftwareRequirement,
    SoupItem,
    UserNeed,
    id_prefix,
    normalize_package,
)
from device_ai.regulatory.component_items import RuntimeComponent
from device_ai.regulatory.post_production_items import PostProductionPlan
from device_ai.regulatory.security_items import (
    SecurityAsset,
    SecurityInterface,
    SecurityPlan,
    SecurityUseCase,
    Threat,
)
from device_ai.regulatory.submission_items import ConformityRow, DeviceDescription, GsprRow, document_evidence
from device_ai.regulatory.yaml_lines import LineDict, LineList, YamlLocatedError, line_of, load_yaml

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class FileSpec:
    """One item file: where it lives, its one top-level key, the model of its entries."""

    path: str
    key: str
    model: type[BaseModel]
    single: bool = False


#: The item files and their schema (agreed with the content authors; DESIGN.md Layout).
ITEM_FILES: tuple[FileSpec, ...] = (
    FileSpec("traceability/user_needs.yaml", "user_needs", UserNeed),
    FileSpec("traceability/requirements.yaml", "software_requirements", SoftwareRequirement),
    FileSpec("traceability/software_items.yaml", "software_items", SoftwareItem),
    FileSpec("traceability/soup.yaml", "soup", SoupItem),
    FileSpec("traceability/anomalies.yaml", "anomalies", Anomaly),
    FileSpec("risk/hazards.yaml", "hazards", Hazard),
    FileSpec("risk/hazardous_situations.yaml", "hazardous_situations", HazardousSituation),
    FileSpec("risk/controls.yaml", "risk_controls", RiskControl),
    FileSpec("risk/plan.yaml", "risk_management_plan", RiskManagementPlan, single=True),
    FileSpec("risk/benefit.yaml", "benefit_risk", BenefitRisk, single=True),
    FileSpec("risk/post_production.yaml", "post_production_plan", PostProductionPlan, single=True),
    FileSpec("security/assets.yaml", "assets", SecurityAsset),
    FileSpec("security/interfaces.yaml", "interfaces", SecurityInterface),
    FileSpec("security/threats.yaml", "threats", Threat),
    FileSpec("security/use_cases.yaml", "security_use_cases", SecurityUseCase),
    FileSpec("security/plan.yaml", "security_plan", SecurityPlan, single=True),
    FileSpec("security/components.yaml", "components", RuntimeComponent),
    FileSpec("submission/gspr.yaml", "gspr", GsprRow),
    FileSpec("submission/iec62304.yaml", "iec62304", ConformityRow),
    FileSpec("submission/device.yaml", "device", DeviceDescription, single=True),
)
REVIEWS_FILE = FileSpec("traceability/reviews.yaml", "reviews", Review)
MODELS_GLOB = "models/*/manifest.json"
# the fixed files the items are read from, and the model manifests as MODELS_GLOB reads them (one
# folder deep): a release graph is built from them as committed (check.py, review 89 O1)
ITEM_PATHS: tuple[str, ...] = (*(spec.path for spec in ITEM_FILES), REVIEWS_FILE.path)
MODEL_MANIFEST = re.compile(r"models/[^/]+/manifest\.json")


def item_files(root: Path) -> list[str]:
    """Every file the items of the project at ``root`` are read from, as paths relative to it."""
    return [*ITEM_PATHS, *(path.relative_to(root).as_posix() for path in sorted(Path(root).glob(MODELS_GLOB)))]


@dataclass(frozen=True)
class Located(Generic[T]):
    """An item and where it was defined (``file`` relative to the project root, 1-based ``line``)."""

    item: T
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Project:
    """Every typed item of one project, by ID, with its source location."""

    root: Path
    items: dict[str, Located[Any]] = field(default_factory=dict)
    plan: Located[RiskManagementPlan] | None = None
    benefit: Located[BenefitRisk] | None = None
    post_production: Located[PostProductionPlan] | None = None
    security_plan: Located[SecurityPlan] | None = None
    device: Located[DeviceDescription] | None = None
    reviews: list[Located[Review]] = field(default_factory=list)

    def of(self, kind: type[T]) -> Iterator[Located[T]]:
        """The items of one kind, in ID order."""
        for item_id in sorted(self.items):
            located = self.items[item_id]
            if type(located.item) is kind:
                yield located


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.invalid_ids: set[str] = set()  # reported already; links to them are not dangling

    def add(self, where: str, item_id: str | None, message: str) -> None:
        self.lines.append(f"{where}: {item_id + ': ' if item_id else ''}{message}")


def _describe(error: dict[str, Any], model: type[BaseModel]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind, msg = error["type"], str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return f"missing field {loc!r}"
    if kind == "extra_forbidden":
        allowed = ", ".join(name for name in model.model_fields)
        return f"unknown field {loc!r} (allowed: {allowed})"
    if kind.startswith("literal_error") or kind.endswith("_type") or kind.startswith("string_"):
        return f"{loc}: {msg} (got {error.get('input')!r})"
    return f"{loc}: {msg}" if loc else msg


def _is_union_tag(part: object) -> bool:
    """pydantic names the member of a union it tried (``list[constrained-str]``) inside ``loc``."""
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "bool", "constrained-str"})


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One error per field for unions (pydantic reports one per member tried)."""
    errors, seen_union_fields = [], set()
    for error in exc.errors():
        loc = tuple(error["loc"])
        if any(_is_union_tag(part) for part in loc):
            if loc[0] in seen_union_fields:
                continue
            seen_union_fields.add(loc[0])
            error = {**error, "loc": (loc[0],), "type": "union",
                     "msg": "not one of the allowed forms (" + str(error["msg"]).removeprefix("Value error, ") + ")"}
        errors.append(error)
    return errors


def _validate(spec: FileSpec, raw: Any, rel: str, default_line: int, problems: _Problems) -> BaseModel | None:
    line = raw.line if isinstance(raw, (LineDict, LineList)) else default_line
    if not isinstance(raw, dict):
        problems.add(f"{rel}:{line}", None, f"expected a mapping (an item with fields), got {type(raw).__name__}")
        return None
    item_id = str(raw.get("id")) if "id" in raw else None
    if spec.single:  # one item per file, named by its class (DEVICE-DESCRIPTION ...), as the loader's own checks do
        item_id = getattr(spec.model, "id", None)
    try:
        return spec.model.model_validate(raw)
    except ValidationError as exc:
        if item_id is not None:
            problems.invalid_ids.add(item_id)
        for error in _errors(exc):
            problems.add(f"{rel}:{line_of(raw, tuple(error['loc']), line)}", item_id, _describe(error, spec.model))
        return None


def _read_file(root: Path, spec: FileSpec, problems: _Problems) -> list[tuple[BaseModel, LineDict, int]]:
    """The valid entries of one file with their raw mapping and line; problems for the rest."""
    path = root / spec.path
    if not path.is_file():
        return []
    try:
        data = load_yaml(path)
    except YamlLocatedError as exc:
        problems.add(f"{spec.path}:{exc.line}", None, exc.message)
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(f"{spec.path}:1", None, f"cannot read: {exc}")
        return []
    if data is None:
        return []
    if not isinstance(data, LineDict) or set(data) != {spec.key}:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        problems.add(f"{spec.path}:1", None, f"expected one top-level key {spec.key!r}, found {keys}")
        return []
    body, body_line = data[spec.key], data.key_lines[spec.key]
    if spec.single:
        model = _validate(spec, body, spec.path, body_line, problems)
        return [(model, body, body.line)] if model is not None else []
    if body is None:
        return []
    if not isinstance(body, LineList):
        problems.add(f"{spec.path}:{body_line}", None, f"{spec.key!r} must be a list of items")
        return []
    entries = []
    for index, raw in enumerate(body):
        model = _validate(spec, raw, spec.path, body.item_lines[index], problems)
        if model is not None:
            entries.append((model, raw, body.item_lines[index]))
    return entries


def _thresholds(data: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if "threshold" in str(key).lower():
                found[path] = value
            else:
                found.update(_thresholds(value, path))
    return found


def load_model_artefact(path: Path, rel: str) -> ModelArtefact:
    """A model package's ``manifest.json`` as a typed item ``MODEL-<name>-<version>``.

    Raises ValueError (message, line) on a manifest that is not JSON or lacks its identity.
    """
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _ManifestError(exc.lineno, f"not JSON: {exc.msg}") from exc
    if not isinstance(manifest, dict) or not manifest.get("name") or not manifest.get("version"):
        raise _ManifestError(1, "a model manifest needs 'name' and 'version'")
    export = manifest.get("export") or {}
    training = manifest.get("training") or {}
    try:
        return ModelArtefact(
            id=f"MODEL-{manifest['name']}-{manifest['version']}",
            name=str(manifest["name"]), version=str(manifest["version"]), package=str(Path(rel).parent.as_posix()),
            manifest_sha256=hashlib.sha256(raw).hexdigest(),
            files={str(k): str(v) for k, v in (manifest.get("files") or {}).items()},
            data_manifest_sha256=training.get("data_manifest_sha256"),
            metrics=manifest.get("metrics") or {},
            thresholds=_thresholds({k: v for k, v in manifest.items() if k != "metrics"}),
            intended_use=manifest.get("intended_use"), clinical_use=manifest.get("clinical_use"),
            preprocessing_version=(manifest.get("preprocessing") or {}).get("version"),
            postprocessing_version=(manifest.get("postprocessing") or {}).get("version"),
            opset=export.get("opset"), onnxruntime_version=export.get("onnxruntime_version"),
        )
    except ValidationError as exc:
        raise _ManifestError(1, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc


class _ManifestError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _link_line(raw: LineDict, field_name: str, target: str, default: int) -> int:
    value = raw.get(field_name)
    if isinstance(value, LineList) and target in value:
        return value.item_lines[value.index(target)]
    return raw.key_lines.get(field_name, default)


def _check_levels(project: Project, raws: dict[str, LineDict], problems: _Problems) -> None:
    if project.plan is None:
        return
    plan = project.plan.item
    severities = {x.level for x in plan.severity}
    p1s, p2s = {x.level for x in plan.p1}, {x.level for x in plan.p2}
    for located in project.of(HazardousSituation):
        situation, raw = located.item, raws[located.item.id]
        checks = [("severity", situation.severity, severities), ("p1", situation.p1, p1s), ("p2", situation.p2, p2s)]
        if situation.residual is not None:
            checks += [("residual.p1", situation.residual.p1, p1s), ("residual.p2", situation.residual.p2, p2s)]
        for name, value, allowed in checks:
            if value not in allowed:
                line = line_of(raw, tuple(name.split(".")), located.line)
                problems.add(f"{located.file}:{line}", situation.id,
                             f"{name} {value} is not a level of the risk management plan ({', '.join(sorted(allowed))})")


def load_project(root: Path) -> Project:
    """Load and cross-check every item of the project at ``root``.

    Raises :class:`~device_ai.errors.TraceabilityError` listing every problem as
    ``file:line: ID: what is wrong``.
    """
    root = Path(root)
    project, problems = Project(root=root), _Problems()
    raws: dict[str, LineDict] = {}
    for spec in ITEM_FILES:
        for model, raw, line in _read_file(root, spec, problems):
            located = Located(model, spec.path, line)
            if isinstance(model, RiskManagementPlan):
                project.plan = located
            elif isinstance(model, BenefitRisk):
                project.benefit = located
            elif isinstance(model, PostProductionPlan):
                project.post_production = located
                raws[PostProductionPlan.id] = raw
            elif isinstance(model, SecurityPlan):
                project.security_plan = located
                raws[SecurityPlan.id] = raw
            elif isinstance(model, DeviceDescription):
                project.device = located
                raws[DeviceDescription.id] = raw
            else:
                _register(project, raws, located, raw, problems)
    for model, _raw, line in _read_file(root, REVIEWS_FILE, problems):
        project.reviews.append(Located(model, REVIEWS_FILE.path, line))
    for path in sorted(root.glob(MODELS_GLOB)):
        rel = path.relative_to(root).as_posix()
        try:
            artefact = load_model_artefact(path, rel)
        except _ManifestError as exc:
            problems.add(f"{rel}:{exc.line}", None, str(exc))
            continue
        _register(project, raws, Located(artefact, rel, 1), LineDict(1), problems)
    _check_links(project, raws, problems)
    _check_levels(project, raws, problems)
    _check_security_plan(project, raws, problems)
    _check_post_production(project, raws, problems)
    _check_submission(project, raws, problems)
    _check_components(project, problems)
    if problems.lines:
        raise TraceabilityError(
            f"{len(problems.lines)} problem(s) in the traceability and risk items", problems=tuple(problems.lines),
            hint="fix each file:line listed above; IDs are stable and never reused",
        )
    return project


def _check_security_plan(project: Project, raws: dict[str, LineDict], problems: _Problems) -> None:
    """The security plan's references to assets, and each threat's levels against the plan's scales."""
    located = project.security_plan
    if located is not None:
        raw = raws[SecurityPlan.id]
        for link in located.item.links():
            if link.target not in project.items and link.target not in problems.invalid_ids:
                problems.add(f"{located.file}:{raw.key_lines.get(link.field, located.line)}", SecurityPlan.id,
                             f"{link.field} refers to {link.target}, which does not exist")
    threats = list(project.of(Threat))
    if threats and located is None:
        problems.add(f"{threats[0].file}:1", None, "threats need security/plan.yaml (their impact and exploitability "
                     "scales)")
        return
    if located is None:
        return
    plan = located.item
    impacts, exploitabilities = {x.level for x in plan.impact}, {x.level for x in plan.exploitability}
    for threat_at in threats:
        threat, raw = threat_at.item, raws[threat_at.item.id]
        for name, allowed in (("impact", impacts), ("exploitability", exploitabilities),
                              ("residual_exploitability", exploitabilities)):
            value = getattr(threat, name)
            if value is not None and value not in allowed:
                problems.add(f"{threat_at.file}:{line_of(raw, (name,), threat_at.line)}", threat.id,
                             f"{name} {value} is not a level of the security plan ({', '.join(sorted(allowed))})")


def _check_post_production(project: Project, raws: dict[str, LineDict], problems: _Problems) -> None:
    """The post-production plan's roles are roles of its responsibilities, and the files it refers
    to are files of the project (SRS-227)."""
    located = project.post_production
    if located is None:
        return
    plan, raw = located.item, raws[PostProductionPlan.id]
    roles = {r.role for r in plan.responsibilities}
    for name, index, role in plan.roles():
        if role not in roles:
            field_name = "collected_by" if name == "sources" else "decided_by"
            line = line_of(raw, (name, index, field_name), located.line)
            problems.add(f"{located.file}:{line}", PostProductionPlan.id,
                         f"{name}[{index}].{field_name} names {role!r}, which is not a role of its responsibilities "
                         f"({', '.join(sorted(roles))})")
    for index, source in enumerate(plan.sources):
        for ref_index, reference in enumerate(source.references):
            if not (project.root / reference).is_file():
                line = line_of(raw, ("sources", index, "references", ref_index), located.line)
                problems.add(f"{located.file}:{line}", PostProductionPlan.id,
                             f"sources[{index}].references names {reference}, which is not a file of the project")


def _check_submission(project: Project, raws: dict[str, LineDict], problems: _Problems) -> None:
    """The regulatory wrapper's references: each package document ID a GSPR or IEC 62304 row names
    is a document every package writes (render.control.DOCUMENT_IDS less CONDITIONAL_DOCUMENTS: a
    document written only with an option, such as diff.html, is not in every package, so it cannot
    be evidence in effect; SRS-204, SRS-206), each variant of the device description a model
    package, each performance record a file of the project (SRS-204)."""
    from device_ai.regulatory.render.control import CONDITIONAL_DOCUMENTS, DOCUMENT_IDS  # package documents

    conditional = {DOCUMENT_IDS[name]: (name, option) for name, option in CONDITIONAL_DOCUMENTS.items()}
    known = set(DOCUMENT_IDS.values())
    for kind in (GsprRow, ConformityRow):
        for located in project.of(kind):
            raw = raws[located.item.id]
            for doc_id in document_evidence(located.item.evidence):
                if doc_id in conditional:
                    name, option = conditional[doc_id]
                    message = (f"evidence refers to {doc_id} ({name}), which the package writes only with "
                               f"`{option}`: cite evidence every package holds (the requirement or record it "
                               "shows)")
                elif doc_id not in known:
                    message = f"evidence refers to {doc_id}, which is not a document of the package"
                else:
                    continue
                line = _link_line(raw, "evidence", doc_id, located.line)
                problems.add(f"{located.file}:{line}", located.item.id, message)
    device = project.device
    if device is None:
        return
    raw = raws[DeviceDescription.id]
    for link in device.item.links():
        if link.target not in project.items or id_prefix(link.target) not in link.allowed:
            line = _link_line(raw, link.field, link.target, device.line)
            problems.add(f"{device.file}:{line}", DeviceDescription.id,
                         f"{link.field} refers to {link.target}, which does not exist")
    for record in device.item.performance_records:
        if not (project.root / record).is_file():
            line = _link_line(raw, "performance_records", record, device.line)
            problems.add(f"{device.file}:{line}", DeviceDescription.id,
                         f"performance_records names {record}, which is not a file of the project")


def _check_components(project: Project, problems: _Problems) -> None:
    """One entry of ``security/components.yaml`` per name and version: the gate judges one entry
    and the SBOM would publish another, so a second one is refused, never chosen between (SRS-196,
    review 149 D3). Names compare PEP 503 normalized, as the runtime components are recorded."""
    first: dict[tuple[str, str], Located[RuntimeComponent]] = {}
    for located in sorted(project.of(RuntimeComponent), key=lambda x: (x.file, x.line)):
        entry = located.item
        key = (normalize_package(entry.name), str(entry.version))
        earlier = first.setdefault(key, located)
        if earlier is not located:
            problems.add(located.where, entry.id,
                         f"{entry.name} {entry.version} is assessed twice (first by {earlier.item.id} at "
                         f"{earlier.where}): keep one entry per name and version")


def _register(project: Project, raws: dict[str, LineDict], located: Located[Any], raw: LineDict,
              problems: _Problems) -> None:
    item_id = located.item.id
    first = project.items.get(item_id)
    if first is not None:
        problems.add(located.where, item_id, f"duplicate ID (first defined at {first.where})")
        return
    project.items[item_id] = located
    raws[item_id] = raw


def _check_links(project: Project, raws: dict[str, LineDict], problems: _Problems) -> None:
    for item_id in sorted(project.items):
        located = project.items[item_id]
        item: Item = located.item
        for link in item.links():
            target = project.items.get(link.target)
            prefix = id_prefix(link.target)
            if target is None and link.target in problems.invalid_ids:
                continue
            if target is None or prefix not in link.allowed:
                line = _link_line(raws[item_id], link.field, link.target, located.line)
                expected = " or ".join(link.allowed)
                reason = "does not exist" if target is None else f"is not a {expected}"
                problems.add(f"{located.file}:{line}", item_id, f"{link.field} refers to {link.target}, which {reason}")
