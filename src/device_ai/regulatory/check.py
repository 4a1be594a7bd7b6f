"""The gate: ``device-ai trace check`` lists every gap in the evidence and fails if there is one.

Gaps (each printed as ``GAP ID: topic: what is missing``):

- **verification** (IEC 62304 5.7.4, 5.7.5): an ``approved`` requirement without a linked test
  that passed on this commit, or with a linked test that failed or errored on it; a ``retired``
  requirement still referenced by tests run on this commit.
- **risk control** (ISO 14971 7.1, 7.2; IEC 62304 5.2.3, 7.3.1): an approved control not
  implemented by an approved requirement, or whose approved requirements are not all verified.
- **risk** (ISO 14971 5.5, 7.3, 7.4): a hazardous situation without controls whose initial risk
  is not acceptable; a residual risk that is ALARA without a rationale; a control that is retired;
  with ``release``, a residual risk that is unacceptable (without it, such a situation is listed as
  open and "not releasable": SRS-186, ANOM-015).
- **soup** (IEC 62304 5.3.3, 5.3.4, 7.1.3, 8.1.2): a SOUP entry missing curated fields or not
  allocated to a software item; a runtime dependency of the package without a SOUP entry.
- **document** (IEC 62304 per class): a document the system's safety class needs is missing;
  no test run was recorded on this commit; with ``--release``, the regulatory wrapper
  (``submission/gspr.yaml``, ``iec62304.yaml``, ``device.yaml``) is missing, in whole or in part.
- **review / suspect** (IEC 62304 8.2.3, 8.2.4): an item never reviewed; an item changed since its
  review, and every item and test linked to it (suspect) until the change is reviewed; with
  ``--release``, an item whose current content has only non-independent reviews (its author's).
- **graph**: the graph was built at another commit than the one checked out.
- **security** (:mod:`.security`, FDA 524B): an interface of the cybersecurity file that no threat
  names, or that names code not in the source tree; an ALARA residual security risk without a
  rationale; with ``--release``, a threat that no control mitigates, or whose controls are not all
  in effect (implemented and verified on this commit), and a threat whose residual security risk
  is unacceptable (without it, such threats are listed as open: the device is not releasable).
- **overclaims** (:mod:`.overclaim`, ISO 14971 7.2-8): a residual reduction crediting a control not
  in effect, or without effectiveness evidence; a re-specified requirement without an independent
  review; benefit-risk prose whose claimed states contradict the graph; with ``--release``, a
  runtime SOUP entry whose anomaly list review is not complete.
- **sbom** (:mod:`.supply_chain`, FDA 524B): with ``--release`` (warnings without), a runtime
  component (distribution, CPython, native library, model) without an assessed entry, support
  level, end of support or vulnerability assessment; an assessment too old; an unresolved one.

- **post-production plan** (:mod:`.post_production`, ISO 14971 10): with ``--release`` (open without), no
  plan; in every run, a plan missing a part clause 10 needs.
- **risk management review** (:mod:`.risk_review`, ISO 14971 9): the generated review record, judged as
  for a release, when it does not conclude the risk management process complete (a gap with
  ``--release``, open without; ``RISK-REVIEW``).

- **regulatory wrapper** (:mod:`.submission`, MDR Annex II 4; IEC 62304): a GSPR that applies, or
  an IEC 62304 clause the system's class needs, with no evidence (or marked not applicable); with
  ``--release`` (open without), a row whose evidence is not in effect on this commit, and a clause
  that claims ``conforms`` while its evidence is not in effect, or says ``partial`` or
  ``not_conforming``.

Outside the gate: ``planned`` and ``draft`` requirements and controls, hazardous situations that
rely on them and open anomalies are listed as **open**. A planned requirement that already has a
passing test is a **warning** ("planned but verified: approve it?"), as are results from a dirty
work tree and SOUP versions that differ from the installed ones (gaps with ``release``), residual estimates above the initial one and results
naming unknown requirements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from device_ai.regulatory import evidence, overclaim, post_production, risk_review, security, submission, supply_chain
from device_ai.regulatory.documents import VERIFICATION_RECORDS
from device_ai.regulatory.items import SOUP_CURATED_FIELDS, normalize_package
from device_ai.regulatory.risk import evaluate_situation, probability_rank

Section = Literal["gap", "open", "warning"]
NOT_YET = ("planned", "draft")


@dataclass(frozen=True, order=True)
class Finding:
    """One line of the check's output."""

    section: Section
    item: str
    topic: str
    message: str

    def line(self) -> str:
        return f"{self.section.upper()} {self.item}: {self.topic}: {self.message}"


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...]

    def section(self, name: Section) -> list[Finding]:
        return [f for f in self.findings if f.section == name]

    @property
    def passed(self) -> bool:
        return not self.section("gap")

    def lines(self) -> list[str]:
        """Gaps, then open items, then warnings, then a summary line."""
        out = [f.line() for name in ("gap", "open", "warning") for f in self.section(name)]  # type: ignore[arg-type]
        out.append(f"trace check: {len(self.section('gap'))} gap(s), {len(self.section('open'))} open, "
                   f"{len(self.section('warning'))} warning(s)")
        return out


@dataclass
class _Context:
    graph: Mapping[str, Any]
    head: str | None
    release: bool
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    incoming: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    verdicts: dict[str, evidence.Verdict] = field(default_factory=dict)

    def of_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        return (node for node in self.nodes.values() if node["kind"] == kind)

    def status(self, node_id: str) -> str | None:
        node = self.nodes.get(node_id)
        return None if node is None else node["fields"].get("status")


def _context(graph: Mapping[str, Any], head: str | None, release: bool) -> _Context:
    ctx = _Context(graph, head, release)
    ctx.nodes = {node["id"]: node for node in graph["nodes"]}
    for edge in graph["edges"]:
        ctx.incoming[(edge["kind"], edge["target"])].append(edge["source"])
    exclusions = evidence.run_exclusions(graph["runs"], head, require_clean=release)
    results = {node_id: node.get("results", []) for node_id, node in ctx.nodes.items() if node["kind"] == "test"}
    for node in ctx.of_kind("requirement"):
        tests = ctx.incoming.get(("verifies", node["id"]), [])
        ctx.verdicts[node["id"]] = evidence.verdict(tests, results, exclusions)
    return ctx


def gate_context(graph: Mapping[str, Any], *, head: str | None, release: bool = False) -> _Context:
    """The indexes and verdicts the rules judge with, for documents that show what the gate sees
    (:func:`device_ai.regulatory.security.assess`)."""
    return _context(graph, head, release)


def _graph_freshness(ctx: _Context) -> Iterator[Finding]:
    built = ctx.graph["head"]["commit"]
    if built != ctx.head:
        yield Finding("gap", "GRAPH", "stale graph", f"built at commit {evidence.short(built)}, HEAD is "
                      f"{evidence.short(ctx.head)}: run device-ai trace build")
    # review 89 O1: the graph names a commit, but its items are read from the work tree; edits not
    # committed (a residual lowered, a review recorded) would pass a release no committed file supports
    if "uncommitted_items" not in ctx.graph["head"]:  # a graph of an older version (review 90, O1)
        yield Finding("gap" if ctx.release else "warning", "GRAPH", "uncommitted items", "the graph does not record "
                      "whether its item files match the commit: run device-ai trace build")
        return
    uncommitted = ctx.graph["head"]["uncommitted_items"]  # None: not known (outside git: no run is evidence)
    if isinstance(uncommitted, str):  # git is there but failed (review 92, defect 1)
        yield Finding("gap" if ctx.release else "warning", "GRAPH", "uncommitted items", "the item files could not "
                      "be compared with the commit (git failed: a clean filter or a time-out): fix git, then run "
                      "device-ai trace build")
        return
    if uncommitted:
        listed = ", ".join(uncommitted)
        if ctx.release:
            yield Finding("gap", "GRAPH", "uncommitted items", f"built from uncommitted changes to {listed}: not "
                          "evidence for a release (commit them, then run device-ai trace build again)")
        else:
            yield Finding("warning", "GRAPH", "uncommitted items", f"built from uncommitted changes to {listed} "
                          "(a gap with --release)")


def _requirements(ctx: _Context) -> Iterator[Finding]:
    for node in ctx.of_kind("requirement"):
        status, verdict = node["fields"]["status"], ctx.verdicts[node["id"]]
        if status == "approved" and verdict.status != "verified":
            yield Finding("gap", node["id"], "verification", verdict.explain())
        elif status in NOT_YET:
            yield Finding("open", node["id"], status, node["fields"]["title"])
            if verdict.status == "verified":
                yield Finding("warning", node["id"], "planned but verified",
                              f"{len(verdict.passed)} test(s) passed on this commit: approve it?")
        elif status == "retired":
            current = list(verdict.passed) + [t for t, _ in verdict.failed]
            if current:
                yield Finding("gap", node["id"], "retired", "tests still verify it: " + ", ".join(current))


def _controls(ctx: _Context) -> Iterator[Finding]:
    for node in ctx.of_kind("risk_control"):
        status, implementers = node["fields"]["status"], node["fields"]["implemented_by"]
        if status in NOT_YET:
            yield Finding("open", node["id"], status, node["fields"]["title"])
            continue
        if status != "approved":
            continue
        approved = [r for r in implementers if ctx.status(r) == "approved"]
        if not implementers:
            yield Finding("gap", node["id"], "risk control", "not implemented by any requirement")
        elif not approved:
            listed = ", ".join(f"{r} ({ctx.status(r)})" for r in implementers)
            yield Finding("gap", node["id"], "risk control", f"not implemented by an approved requirement: {listed}")
        unverified = [r for r in approved if ctx.verdicts[r].status != "verified"]
        if unverified:
            yield Finding("gap", node["id"], "risk control", "not verified: " + "; ".join(
                f"{r} {ctx.verdicts[r].explain()}" for r in unverified))


def _risks(ctx: _Context) -> Iterator[Finding]:
    situations = list(ctx.of_kind("hazardous_situation"))
    plan = next(ctx.of_kind("risk_plan"), None)
    if plan is None:
        if situations:
            yield Finding("gap", "RISK-PLAN", "risk", "no risk management plan: hazardous situations cannot be evaluated")
        return
    for node in situations:
        fields, item = node["fields"], node["id"]
        result = evaluate_situation(plan["fields"], fields)
        initial, residual = result["initial"], result["residual"]
        controls = fields["controls"]
        uncontrolled = not controls and initial["acceptability"] != "acceptable"
        if uncontrolled:
            yield Finding("gap", item, "risk", f"no risk controls and the initial risk ({fields['severity']}, "
                          f"P={initial['p']}) is {initial['acceptability']}")
        retired = [c for c in controls if ctx.status(c) == "retired"]
        if retired:
            yield Finding("gap", item, "risk", "controlled by retired control(s): " + ", ".join(retired))
        pending = [c for c in controls if ctx.status(c) in NOT_YET]
        if pending:
            yield Finding("open", item, "risk", "relies on control(s) not yet approved: " + ", ".join(pending))
        # SRS-043 (reviews 85, 86): the residual clauses hold for every situation, one without controls
        # too (its claimed residual is judged as claimed), and a blank rationale is no rationale
        # An uncontrolled, unacceptable situation is already a gap in every run (reviews 74, 84): no
        # second, weaker "open" finding for it.
        if residual["acceptability"] == "unacceptable" and not uncontrolled:
            # SRS-186 (ANOM-015): the release is blocked; development evidence keeps being recorded
            yield Finding("gap" if ctx.release else "open", item, "risk",
                          f"residual risk ({fields['severity']}, P={residual['p']}) is unacceptable"
                          + ("" if ctx.release else ": the device is not releasable (a gap with --release)"))
        elif residual["acceptability"] == "alara" and not str(fields.get("residual_rationale") or "").strip():
            yield Finding("gap", item, "risk", f"residual risk ({fields['severity']}, P={residual['p']}) is ALARA "
                          "and needs residual_rationale (ISO 14971 7.4)")
        if probability_rank(residual["p"]) > probability_rank(initial["p"]):
            yield Finding("warning", item, "risk", f"residual P={residual['p']} is above the initial P={initial['p']}")


def _version_drift(curated: str | None, installed: str | None) -> str | None:
    """Why the curated SOUP version does not describe the installed one, or None."""
    if not curated or installed is None:
        return None
    if curated[0] not in "<>=!~":
        return None if curated == installed else f"curated for {curated}, installed {installed}"
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # packaging comes with pip/pytest; without it specifiers are not compared
        return None
    try:
        ok = SpecifierSet(curated).contains(installed, prereleases=True)
    except InvalidSpecifier:
        return f"version {curated!r} is neither a version nor a specifier"
    return None if ok else f"curated for {curated}, installed {installed}"


def _soup(ctx: _Context) -> Iterator[Finding]:
    environment = ctx.graph["environment"]
    entries = {}
    for node in ctx.of_kind("soup"):
        fields = node["fields"]
        package = normalize_package(fields["package"])
        entries[package] = node
        missing = [name for name in SOUP_CURATED_FIELDS if not (fields.get(name) or "").strip()]
        if missing:
            yield Finding("gap", node["id"], "soup", "missing curated field(s): " + ", ".join(missing))
        if not fields["software_items"]:
            yield Finding("gap", node["id"], "soup", "not allocated to a software item (software_items is empty)")
        drift = _version_drift(fields.get("version"), environment["installed"].get(package))
        if drift:
            yield Finding("gap" if ctx.release else "warning", node["id"], "soup version",
                          f"{drift}: re-evaluate the SOUP and its anomaly list (IEC 62304 7.1.3, 8.1.2)")
    if environment["runtime_requirements"] is None:
        yield Finding("gap", "SOUP", "soup", f"runtime dependencies unknown ({environment['runtime_requirements_source']})")
    for name in environment["runtime_requirements"] or ():
        node = entries.get(name)
        if node is None:
            yield Finding("gap", f"SOUP-{name}", "soup", f"runtime dependency of {environment['package']} has no SOUP entry")
        elif not node["fields"]["runtime"]:
            yield Finding("gap", node["id"], "soup", "is a runtime dependency but marked runtime: false")


def _documents(ctx: _Context) -> Iterator[Finding]:
    exclusions = evidence.run_exclusions(ctx.graph["runs"], ctx.head, require_clean=ctx.release)
    for doc in ctx.graph["documents"]:
        if not doc["required"]:
            continue
        if doc["missing"] and (ctx.release or not doc.get("release_only")):
            yield Finding("gap", doc["id"], "document", f"{doc['title']} ({doc['clause']}, class "
                          f"{ctx.graph['safety_class']}) missing: expected " + "; ".join(doc["missing"]))
        if doc["id"] == VERIFICATION_RECORDS and not any(reason is None for reason in exclusions.values()):
            reasons = sorted({r for r in exclusions.values() if r}) or ["no results given to trace build"]
            yield Finding("gap", doc["id"], "document", "no test run recorded on this commit (" + "; ".join(reasons) + ")")


def _reviews(ctx: _Context) -> Iterator[Finding]:
    suspects_of: dict[str, list[str]] = defaultdict(list)
    for node_id, node in ctx.nodes.items():
        for changed in node.get("suspect_because", ()):
            suspects_of[changed].append(node_id)
    for node in ctx.nodes.values():
        state = node.get("review_state")
        if state == "unreviewed":
            yield Finding("gap", node["id"], "unreviewed", f"never reviewed: device-ai trace review {node['id']} --by NAME")
        elif state == "changed":
            review = node["review"]
            linked = sorted(suspects_of[node["id"]])
            yield Finding("gap", node["id"], "changed", f"changed since its review by {review['by']} on {review['date']} "
                          f"(commit {evidence.short(review['commit'])}); linked items suspect until it is reviewed: "
                          + (", ".join(linked) or "none"))
        elif state == "reviewed" and ctx.release and not node.get("independent_reviews"):
            # issue 19 item 3: a release rests on reviews by someone other than the author
            review = node["review"]
            yield Finding("gap", node["id"], "author review only", f"reviewed at its current content only by "
                          f"{review['by']} on {review['date']}, not independently: a release needs a review by "
                          f"someone other than the author (device-ai trace review {node['id']} --by NAME --independent)")
        if node.get("suspect_because"):
            yield Finding("gap", node["id"], "suspect", "linked to " + ", ".join(node["suspect_because"])
                          + ", changed since review")


def _runs_and_anomalies(ctx: _Context) -> Iterator[Finding]:
    for run in ctx.graph["runs"]:
        git = run["header"]["git"]
        if git["commit"] == ctx.head and git["dirty"] is not False:
            # SRS-043 (review 85): a release rests on committed code only; a dirty run on HEAD is named,
            # never silently dropped, so a failure it recorded cannot vanish from the release gate
            state = "uncommitted changes" if git["dirty"] else "an unknown work-tree state"
            if ctx.release:
                yield Finding("gap", run["id"], "dirty work tree", f"results in {run['source']} were recorded on this "
                              f"commit with {state}: not evidence for a release (commit, then run the tests again)")
            else:
                yield Finding("warning", run["id"], "dirty work tree", f"results in {run['source']} were recorded "
                              f"on this commit with {state} (a gap with --release)")
        if run["header"].get("exit_status", 0) not in (0, 1, 5):
            yield Finding("warning", run["id"], "incomplete run", f"pytest ended with exit status "
                          f"{run['header']['exit_status']} (interrupted or usage error): {run['source']}")
    for node in ctx.of_kind("test"):
        if node["fields"]["unresolved"]:
            yield Finding("warning", node["id"], "unknown requirement",
                          "results name " + ", ".join(node["fields"]["unresolved"]))
    for node in ctx.of_kind("anomaly"):
        if node["fields"]["status"] == "open":
            yield Finding("open", node["id"], "anomaly", node["fields"]["title"])


def _overclaims(ctx: _Context) -> Iterator[Finding]:
    for rule in overclaim.RULES:
        for section, item, topic, message in rule(ctx):
            yield Finding(section, item, topic, message)  # type: ignore[arg-type]


def _security(ctx: _Context) -> Iterator[Finding]:
    for rule in (*security.RULES, *supply_chain.RULES):
        for section, item, topic, message in rule(ctx):
            yield Finding(section, item, topic, message)  # type: ignore[arg-type]


def _submission(ctx: _Context) -> Iterator[Finding]:
    for rule in submission.RULES:
        for section, item, topic, message in rule(ctx):
            yield Finding(section, item, topic, message)  # type: ignore[arg-type]


def _post_production(ctx: _Context) -> Iterator[Finding]:
    for rule in post_production.RULES:
        for section, item, topic, message in rule(ctx):
            yield Finding(section, item, topic, message)  # type: ignore[arg-type]


_CHECKS = (_graph_freshness, _requirements, _controls, _risks, _soup, _documents, _reviews, _runs_and_anomalies,
           _overclaims, _security, _submission, _post_production)


def _release_review(graph: Mapping[str, Any], head: str | None,
                    release_findings: list[Finding] | None = None) -> risk_review.ReviewRecord:
    ctx = _context(graph, head, True)
    findings = [f for rule in _CHECKS for f in rule(ctx)] if release_findings is None else release_findings
    return risk_review.review(ctx, findings)


def risk_management_review(graph: Mapping[str, Any], *, head: str | None) -> risk_review.ReviewRecord:
    """The ISO 14971 clause 9 review record of ``graph`` at ``head``, judged as for a release from
    the findings of every other rule of the release gate (SRS-228): the record the risk management
    report prints, and the one :func:`check_graph` turns into its ``RISK-REVIEW`` finding."""
    return _release_review(graph, head)


def check_graph(graph: Mapping[str, Any], *, head: str | None, release: bool = False) -> CheckReport:
    """Every gap, open item and warning of ``graph`` judged against commit ``head``; last, the risk
    management review (:mod:`.risk_review`), always judged as for a release, as one finding when it
    is not complete (a gap with ``release``, open otherwise)."""
    ctx = _context(graph, head, release)
    findings = [finding for rule in _CHECKS for finding in rule(ctx)]
    record = _release_review(graph, head, findings if release else None)
    review_finding = risk_review.finding(record, release=release)
    if review_finding is not None:
        findings.append(Finding(*review_finding))  # type: ignore[arg-type]
    return CheckReport(tuple(sorted(findings)))
