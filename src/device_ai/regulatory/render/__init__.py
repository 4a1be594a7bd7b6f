"""Renderers: the trace graph -> self-contained HTML documents (Jinja2), IEC 62304 5.1.1 c, 5.7.5,
5.8; ISO 14971 clause 8; FDA premarket software guidance (SRS traceability, V&V, unresolved
anomalies).

Data first (DESIGN.md): :mod:`.documents` computes what each document shows from the graph,
the templates in ``templates/`` only lay it out. Pages carry their CSS inline, load nothing
from outside and run no script; long tables have sticky headers, wrapping cells and one
anchor per row. Rendering is deterministic: equal graphs give equal bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_ai.errors import DependencyMissing, TraceabilityError
from device_ai.regulatory.render import ai_validation
from device_ai.regulatory.render import control as doc_control
from device_ai.regulatory.render import documents as docs
from device_ai.regulatory.render import revisions
from device_ai.regulatory.render import risk_review as risk_review_docs
from device_ai.regulatory.render import specification as spec
from device_ai.regulatory.render import security as security_docs
from device_ai.regulatory.render import submission as submission_docs
from device_ai.regulatory.render.diff import diff_graphs
from device_ai.regulatory.render.view import TraceView


@dataclass(frozen=True)
class Document:
    """One document of the package: file name, title, the clauses it answers, a one-line summary."""

    file: str
    title: str
    clause: str
    summary: str
    template: str | None = None
    nav: str = ""


DOCUMENTS: tuple[Document, ...] = (
    Document("trace-requirements.html", "Traceability: user needs, requirements, tests, results",
             "IEC 62304 5.1.1 c, 5.2.6, 5.7.4; FDA SRS", "every requirement with its user needs, software items, "
             "risk controls, verifying tests and their results on this commit", "trace_requirements.html.j2", nav="Requirements matrix"),
    Document("srs.html", "Software requirements specification", "IEC 62304 5.2; FDA SRS",
             "every requirement by category with its full text, acceptance criterion, rationale, status, "
             "re-specifications, user needs, software items, risk controls and the verdict of its tests",
             "srs.html.j2", nav="SRS"),
    Document("trace-risk.html", "Traceability: hazards, hazardous situations, risk controls, verification",
             "ISO 14971 7.1-7.3; IEC 62304 7.3.3", "each hazardous situation with its hazard, initial and residual "
             "risk, controls and the verification of the requirements that implement them", "trace_risk.html.j2", nav="Risk matrix"),
    Document("trace-soup.html", "Traceability: SOUP, software items, risks", "IEC 62304 7.1.2 c, 7.1.3, 8.1.2",
             "each SOUP item with the software items that use it and the hazardous situations it relates to",
             "trace_soup.html.j2", nav="SOUP matrix"),
    Document("vv-report.html", "Software verification report", "IEC 62304 5.6.7, 5.7.4, 5.7.5, 5.8.2, 9.8",
             "summary, run records with the 5.7.5 fields, every test record, deviations and anomalies",
             "vv_report.html.j2", nav="V&V report"),
    Document("risk-report.html", "Risk management report", "ISO 14971 4.4, 5, 6, 7, 8; 9 and 10: generated review "
             "record and post-production plan, with their state, section 7",
             "plan and acceptability, hazards, hazardous situations with P1/P2/severity, controls, residual "
             "risk, benefit-risk, the overall residual risk, the generated risk management review record and the "
             "production and post-production plan", "risk_report.html.j2", nav="Risk report"),
    Document("soup.html", "SOUP list and software bill of materials", "IEC 62304 8.1.2, 5.3.3, 5.3.4, 7.1.3; FDA 524B",
             "the CycloneDX SBOM of the environment merged with the curated SOUP fields", "soup.html.j2", nav="SOUP and SBOM"),
    Document("sbom.cdx.json", "CycloneDX SBOM (JSON)", "FDA 524B; IEC 62304 8.1.2",
             "machine-readable bill of materials, CycloneDX 1.6"),
    Document(doc_control.MODEL_CARD_FILE, "Model card", "FDA AI-enabled device software functions (draft, model card)",
             "identity, intended use, input contract, labels, training, export, metrics and digests of each "
             "locked model package", "model_card.html.j2", nav="Model card"),
    Document("ai-validation.html", "AI model validation report",
             "FDA AI-enabled device software functions (draft): data management, performance validation, "
             "PCCP position; EU MDR Annex XIV clinical evaluation (synthetic only)",
             "the standalone study and the pre-registered external validation side by side with every criterion, "
             "subgroup and verdict, the data sets, candidates not released, the INT8 study, known limitations and "
             "the PCCP position, from the committed result files", "ai_validation.html.j2", nav="AI validation"),
    Document("sdp.html", "Software development plan", "IEC 62304 5.1, 6.1, 8, 9",
             "the plan (docs/software_development_plan.md) with the software items, documents and tools of this "
             "build", "sdp.html.j2", nav="Development plan"),
    Document("architecture.html", "Software architecture", "IEC 62304 5.3",
             "docs/architecture.md with the software items, their classes and allocation", "architecture.html.j2", nav="Architecture"),
    Document("sds.html", "Software design specification", "IEC 62304 5.3, 5.4; FDA SDS, architecture diagram",
             "each software item with its class, source files and their public interfaces, allocated requirements "
             "and the dependencies between items, read statically from the source", "sds.html.j2", nav="SDS"),
    Document("revision-history.html", "Revision history of the device file",
             "FDA software version history; IEC 62304 8.3",
             "the commits that changed the requirements, risk, security and submission files or a model manifest, "
             "from git", "revision_history.html.j2", nav="Revisions"),
    Document("release-notes.html", "Release notes and unresolved anomalies", "IEC 62304 5.8.2-5.8.4; FDA version "
             "history and unresolved anomalies", "version, verification status, open items and known anomalies",
             "release_notes.html.j2", nav="Release notes"),
    Document("security-risk.html", "Cybersecurity: threat model and security risk report",
             "FDA premarket cybersecurity guidance (threat model, security risk management report, testing); "
             "FD&C 524B", "assets, interfaces, STRIDE threats with their controls' state on this commit, initial and "
             "residual security risk, open items and the security testing evidence", "security_risk.html.j2",
             nav="Security risk"),
    Document("security-architecture.html", "Cybersecurity architecture views",
             "FDA premarket cybersecurity guidance (architecture views)",
             "global system, multi-patient harm, updatability/patchability and security use case views generated "
             "from the cybersecurity file", "security_views.html.j2", nav="Security views"),
    Document("security-plan.html", "Vulnerability and patch management plan", "FD&C 524B(b)(1), (b)(2)",
             "monitoring, coordinated disclosure, assessment, timelines, update paths and end of support",
             "security_plan.html.j2", nav="Security plan"),
    Document("device-description.html", "Device description and specification", "EU MDR Annex II 1",
             "intended purpose, users, principles of operation, inputs and outputs, classification (the "
             "manufacturer's position) and the model packages as variants", "device_description.html.j2",
             nav="Device description"),
    Document("ifu.html", "Instructions for use (content)", "EU MDR Annex II 2, Annex I 23.4",
             "intended use, contraindications, warnings and precautions, how to read each output, what the device "
             "does not do", "ifu.html.j2", nav="IFU"),
    Document("gspr.html", "General safety and performance requirements checklist", "EU MDR Annex I; Annex II 4",
             "each GSPR with applicability, methods, standards and its evidence with the evidence's state on this "
             "commit", "gspr.html.j2", nav="GSPR"),
    Document("iec62304-conformity.html", "IEC 62304 conformity matrix", "IEC 62304:2006+A1:2015 clauses 4-9",
             "each clause with its classes, evidence, stated status and the state the gate shows on this commit",
             "iec62304_conformity.html.j2", nav="IEC 62304"),
    Document("trace-graph.json", "Trace graph (JSON)", "IEC 62304 5.1.1 c",
             "the typed graph every document was rendered from (input of baseline diffs)"),
)
DIFF = Document("diff.html", "Changes since the baseline package", "IEC 62304 8.2.3, 9.8; ISO 14971 7.6",
                "added, changed and removed items and changed verdicts", "diff.html.j2", nav="Diff")


def _package_environment(*, autoescape: bool) -> Any:
    """A Jinja2 environment over this package's templates, strict undefined."""
    try:
        import jinja2
    except ImportError as exc:
        raise DependencyMissing("rendering the documents needs Jinja2", hint="pip install -e '.[dev]'") from exc
    return jinja2.Environment(
        loader=jinja2.PackageLoader("device_ai.regulatory.render", "templates"),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def environment() -> Any:
    """The Jinja2 environment: autoescaping, strict undefined, templates from this package."""
    from markupsafe import Markup

    env = _package_environment(autoescape=True)
    env.globals["anchor"] = docs.anchor
    env.globals["approval_html"] = lambda approval: Markup(doc_control.approval_html(approval))
    env.globals["reviews_text"] = doc_control.reviews_text
    env.globals["print_page"] = PrintPage()
    env.filters["css_string"] = css_string
    return env


@dataclass(frozen=True)
class PrintPage:
    """The printed page of every document (A4; margins in mm, top right bottom left): the @page rule
    of base.html.j2, and what the PDF checks take as the content area."""

    size: str = "A4"
    margins_mm: tuple[float, float, float, float] = (16, 11, 15, 11)

    @property
    def margin_css(self) -> str:
        return " ".join(f"{m:g}mm" for m in self.margins_mm)


def css_string(value: Any) -> Any:
    """``value`` as a quoted CSS string for a ``<style>`` element: quotes, backslashes, controls and
    ``<>&`` as CSS escapes (HTML escaping does not apply inside ``<style>``)."""
    from markupsafe import Markup

    out = ['"']
    for char in str(value):
        out.append(f"\\{ord(char):x} " if char in '"\\<>&' or ord(char) < 0x20 or ord(char) == 0x7F else char)
    out.append('"')
    return Markup("".join(out))


def markdown_environment() -> Any:
    """The Jinja2 environment for Markdown documents (MyST for the Sphinx site, CommonMark for
    :func:`markdown_html`): no HTML autoescaping, strict undefined, templates from this package;
    the ``md`` filter writes one value as literal text (inline syntax escaped, see
    :func:`device_ai.regulatory.render.myst.md`)."""
    env = _package_environment(autoescape=False)
    from device_ai.regulatory.render.myst import md

    env.filters["md"] = md
    return env


def markdown_html(text: str) -> str:
    """CommonMark (with tables) to HTML, raw HTML disabled, for docs/*.md pages."""
    try:
        from markdown_it import MarkdownIt
    except ImportError as exc:
        raise DependencyMissing("rendering docs pages needs markdown-it-py", hint="pip install -e '.[dev]'") from exc
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def _read_doc(root: Path, relative: str) -> str | None:
    path = root / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TraceabilityError(f"cannot read {relative}: {exc.strerror}", hint="check the file's permissions") from exc


def render_all(view: TraceView, *, root: Path, sbom: Mapping[str, Any], model_manifests: Mapping[str, Any],
               baseline: TraceView | None = None, files: Sequence[Document] = DOCUMENTS) -> dict[str, str]:
    """Every HTML document of the package as ``{file name: text}`` (IEC 62304 5.8.2 release record).

    ``sbom`` is the CycloneDX document (:mod:`device_ai.regulatory.sbom`); ``model_manifests``
    maps a model node ID to its parsed ``manifest.json``; ``baseline`` adds the diff page.
    """
    env = environment()
    listed = list(files) + ([DIFF] if baseline is not None else [])
    common = {"view": view, "summary": docs.summary(view), "documents": listed, "head": view.head,
              "version": view.software_version, "has_diff": baseline is not None}
    design = spec.sds(view, root)  # the source read once for the SDS and the architecture diagram
    context: dict[str, Mapping[str, Any]] = {
        "trace_requirements.html.j2": {"matrix": docs.requirements_matrix(view)},
        "trace_risk.html.j2": {"matrix": docs.risk_matrix(view)},
        "trace_soup.html.j2": {"matrix": docs.soup_matrix(view)},
        "vv_report.html.j2": {"runs": docs.run_rows(view), "records": docs.test_records(view),
                              "deviations": docs.deviations(view), "anomalies": docs.anomalies(view)},
        "risk_report.html.j2": {"report": docs.risk_report(view), "review": risk_review_docs.review(view),
                                "post_production": risk_review_docs.post_production(view)},
        "soup.html.j2": {"components": _sbom_rows(sbom, view), "sbom": sbom},
        "model_card.html.j2": {"models": [(m, model_manifests.get(str(m["id"]))) for m in docs.models(view)],
                               "anomalies": docs.anomalies(view)},
        "ai_validation.html.j2": {"report": ai_validation.report(view, root, model_manifests)},
        "sdp.html.j2": {"plan_html": _markdown_or_none(root, "docs/software_development_plan.md"),
                        "items": docs.software_items(view), "documents_status": view.graph.get("documents", []),
                        "runs": docs.run_rows(view)},
        "architecture.html.j2": {"arch_html": _markdown_or_none(root, "docs/architecture.md"),
                                 "items": docs.software_items(view), "arch": spec.architecture(design)},
        "srs.html.j2": {"srs": spec.srs(view)},
        "sds.html.j2": {"sds": design},
        "revision_history.html.j2": {"history": revisions.history(root, view.head)},
        "release_notes.html.j2": {"planned": docs.planned(view), "anomalies": docs.anomalies(view),
                                  "deviations": docs.deviations(view), "models": docs.models(view),
                                  "diff": diff_graphs(baseline, view) if baseline is not None else None},
        "diff.html.j2": {"diff": diff_graphs(baseline, view) if baseline is not None else None},
        "security_risk.html.j2": {"report": security_docs.security_report(view)},
        "security_views.html.j2": {"views": security_docs.architecture_views(view)},
        "security_plan.html.j2": {"plan": security_docs.vulnerability_plan(view)},
        "device_description.html.j2": {"device": submission_docs.device(view)},
        "ifu.html.j2": {"device": submission_docs.device(view)},
        "gspr.html.j2": {"gspr": submission_docs.gspr(view)},
        "iec62304_conformity.html.j2": {"matrix": submission_docs.conformity(view)},
    }
    out: dict[str, str] = {}
    for doc in listed:
        if doc.template is None:
            continue
        template = env.get_template(doc.template)
        out[doc.file] = template.render(**common, **context[doc.template], doc=doc,
                                        control=doc_control.block(view, doc.file))
    return out


def render_index(view: TraceView, files: Mapping[str, str], *, has_diff: bool, draft_gaps: Sequence[str] = (),
                 pdf: bool = False) -> str:
    """The package index: every document with its ID, clause, summary and SHA-256 (and its PDF with
    ``pdf``); a draft (built despite gaps in the evidence) says so first and lists the gaps."""
    listed = list(DOCUMENTS) + ([DIFF] if has_diff else [])
    return environment().get_template("index.html.j2").render(
        view=view, summary=docs.summary(view), documents=listed, head=view.head, version=view.software_version,
        digests=files, has_diff=has_diff, draft_gaps=list(draft_gaps), doc=Document("index.html", "Submission package", "IEC 62304 5.8; "
                                                       "FDA premarket software; EU MDR Annex II", ""),
        control=doc_control.block(view, "index.html"), ids={d.file: doc_control.document_id(d.file) for d in listed},
        pdf=pdf)


def _markdown_or_none(root: Path, relative: str) -> str | None:
    text = _read_doc(root, relative)
    return None if text is None else markdown_html(text)


def _sbom_rows(sbom: Mapping[str, Any], view: TraceView) -> list[dict[str, Any]]:
    rows = []
    curated_ids = {str(n["id"]): docs.fields(n) for n in view.of("soup")}
    for component in sbom.get("components", []):
        props = {p["name"]: p["value"] for p in component.get("properties", [])}
        soup_id = props.get("device-ai:soup:id")
        licenses = []
        for entry in component.get("licenses", []):
            if "expression" in entry:
                licenses.append(entry["expression"])
            else:
                lic = entry.get("license", {})
                licenses.append(lic.get("id") or lic.get("name") or "")
        curated = curated_ids.get(soup_id or "", {})
        rows.append({"name": component.get("name"), "version": component.get("version"),
                     "scope": component.get("scope"), "purl": component.get("purl"),
                     "publisher": component.get("publisher"), "licenses": licenses, "soup_id": soup_id,
                     "curated": curated, "transitive": props.get("device-ai:soup:curated"),
                     "version_mismatch": bool(curated) and str(curated.get("version")) != str(component.get("version")),
                     "type": component.get("type"), "support": _support_row(props, component, sbom)})
    return rows


def _support_row(props: Mapping[str, str], component: Mapping[str, Any], sbom: Mapping[str, Any]) -> dict[str, Any]:
    """The FDA 524B fields of one SBOM component (support level, end of support, VEX), as the SBOM
    states them (:func:`device_ai.regulatory.sbom.build_sbom`)."""
    known = [{"id": v["id"], "state": v["analysis"]["state"], "justification": v["analysis"].get("justification")}
             for v in sbom.get("vulnerabilities", []) if any(a["ref"] == component.get("bom-ref") for a in v["affects"])]
    return {"entry": props.get("device-ai:sbom:entry"), "level": props.get("device-ai:support:support_level"),
            "end": props.get("device-ai:support:end_of_support") or props.get("device-ai:support:end_of_support_note"),
            "status": props.get("device-ai:vex:status"), "date": props.get("device-ai:vex:date"),
            "assessor": props.get("device-ai:vex:assessor"), "none": props.get("device-ai:vex:no_known_vulnerability"),
            "known": known}
