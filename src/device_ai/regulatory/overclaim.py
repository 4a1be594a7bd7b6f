"""Gate rules that keep the risk file from claiming more than the evidence shows (issue 19 item 6).

Each rule reads the checked graph (``check._Context``) and yields ``(section, item, topic,
message)``; :mod:`.check` turns them into findings. A hazardous situation is *reduced* when its
residual P1 is below its initial P1 or its residual P2 below its initial P2; those are its reduced
factors.

1. **risk reduction** (SRS-180; ISO 14971 7.2, 7.3): every control a reduced situation lists must
   be *in effect*: approved, implemented by at least one approved requirement, and every approved
   implementing requirement verified on this commit. A planned, draft, retired or unverified
   control on a reduced situation is a gap, not an open item: a reduction is credited only to
   controls implemented and verified. A situation that keeps its initial estimate may list
   controls not yet in effect (they stay open).
2. **effectiveness** (SRS-181; ISO 14971 7.2 verification of effectiveness, kept apart from
   verification of implementation): every reduced factor needs at least one ``effectiveness``
   entry that ``reduces`` it. An entry names only controls the situation lists; states in
   ``measure`` a figure that is a measurement (:data:`MEASUREMENT`): a count or ratio ("12 of
   12", "3/3", "x866", "95 %"), a proportion ("0.95", "1.0") or a number after a comparison sign
   ("= 3.2", ">= 40"), or a number with a unit ("120 s", "512 MiB", "1.5x") or with a counted
   noun at most four words on ("5 cases", "4 package files", "195 Merkle test vectors"); a digit
   inside a word or an ID ("(v2)", "SRS-002") is no figure, a number that names something
   (:data:`NOT_A_FIGURE`: a date or time, a version, a standard and its clause, a clause, section,
   annex, issue or item number) is none, and a bare decimal above 1 ("Python 3.11", "7.2") reads
   as a version or clause number; and rests on
   - a ``record``: a non-empty file that exists when the graph is built and that is, by its whole
     path (:func:`is_test_artefact`), no test module (anything under a ``tests`` folder at any
     depth, a ``.py`` file under a folder named ``tests*``, ``test_*.py``, ``*_test.py``,
     ``conftest.py``) and no test result (anything under a folder named ``test-results*`` at any
     depth); by its content (:mod:`.record_content`), wherever it lives, no generated test output
     (a pytest result document, a JUnit XML report, a runner's console summary, a Python test
     module, a trace graph) and no byte copy of a loaded test-results file; and not the risk
     file or the trace items themselves (:func:`is_item_file`: every file the loader reads the
     items from, any YAML file in their folders, whatever the case of its suffix) nor a byte copy
     of a file the loader reads, wherever it lives, judged by the path the record resolves to
     inside the project too (a link to the risk file is the risk file; a record that resolves
     outside the project is refused): a pass/fail verdict shows that
     a control is implemented, a measured outcome (study, validation, benchmark, challenge run)
     that it works; or
   - ``requirements``, each approved, verified on this commit and implementing at least one of
     the entry's controls, whose verification exercises the hazardous sequence itself over a
     challenge set (the reviewer judges that; the gate checks status, verdict and the link).
   A control of type ``information`` is credited only by a ``record`` (a usability or other
   study): tests show the words are there, not that users read and follow them.
   Limitation: the graph keeps each record's SHA-256 (``effectiveness_records``), but the
   situation's review fingerprint does not include it, so a record rewritten after the review
   does not make the situation suspect; the reviewer compares the digest by hand.
3. **re-specified** (SRS-182; IEC 62304 5.2.6, 8.2.3): a requirement whose acceptance criterion
   changed after results were seen (``respecifications``) is always listed with its dates and
   its independent review status: a gap when it is approved (or retired) without an independent
   review record at its current content (:func:`.review.counts_as_independent`: the record's
   ``independent`` field, or for an older record without it an exact house phrase), a warning with the
   reviewers otherwise; while planned or draft it is open.
4. **benefit-risk claims** (SRS-183; ISO 14971 7.4, 8): every SRS, RC, RISK and ANOM ID named in
   the benefit-risk prose (any case, with any dash-like character (:data:`DASHES`), a space, an
   underscore or nothing before the number: ``risk-001``, ``RISK–001``, ``RC 001``) needs a
   ``claims`` entry, and each claim must equal the graph's
   state: for a requirement or a control ``verified`` or ``not verified`` when approved (a
   control: implemented by approved requirements all verified; effectiveness is rule 2's), else
   its status; for a hazardous situation its residual acceptability; for an anomaly ``open`` or
   ``closed``. The prose may state a state only next to the IDs it is about (``SRS-002 is not
   yet verified``, ``RISK-001 and RISK-022 are unacceptable``, ``(ANOM-012, ANOM-013, open)``):
   a state word right after an ID or a list of IDs, or after their glosses in brackets
   (``RISK-001 (missed lesion) is acceptable``; optionally after ``is``/``are``/``remains`` and
   ``not``/``not yet``) is what the prose asserts of each of them, and it must equal the claim
   (:func:`prose_states`). A state said elsewhere in a sentence is not read (the reviewer judges
   it). Any sentence that concludes the overall residual risk acceptable while a hazardous
   situation's residual is unacceptable is a gap (:func:`overall_acceptable`): in the overall
   residual risk field, or in the other fields when it is about the overall or residual risk,
   the device or the benefit-risk (or risk-benefit, risk/benefit; whatever the word order);
   "acceptable" negated (not, no,
   never, cannot... among the four words before), hypothetical (would, could, if, once...), or
   said of an item (a state given to an ID, or an ID named before it, or after it when the
   subject comes only after it, in a sentence that does not say "overall") is not such a
   conclusion. Limitation: a negation further back, or a conclusion without the word
   acceptable ("the benefits outweigh the risks"), is the reviewer's to judge.
5. **soup anomaly review** (SRS-184; IEC 62304 7.1.3): a runtime SOUP entry whose
   ``anomaly_review_state`` is not ``complete`` (partial, pending, or not stated) is a gap with
   ``--release`` and a warning otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from device_ai.regulatory.loader import ITEM_PATHS, MODEL_MANIFEST
from device_ai.regulatory.risk import evaluate_situation

Raw = tuple[str, str, str, str]
NOT_YET = ("planned", "draft")
#: The dash-like characters outside Unicode's Dash_Punctuation (Pd) category (review 154 D2b):
#: those with Unicode's Dash property (PropList.txt, "Dash" = Yes) that are not Pd - U+2053 SWUNG
#: DASH (Po), U+207B SUPERSCRIPT MINUS, U+208B SUBSCRIPT MINUS, U+2212 MINUS SIGN (Sm) - and two
#: more minus signs without it: U+02D7 MODIFIER LETTER MINUS SIGN (Sk), U+2796 HEAVY MINUS SIGN (So).
#: Not read: '+', '~', '.', '/', U+00B1 PLUS-MINUS, U+2022 BULLET, U+00AD SOFT HYPHEN (Cf, invisible).
DASH_NOT_PD = "\u2053\u207b\u208b\u2212\u02d7\u2796"
#: Every dash-like character (SRS-183), escaped for a regex character class: every character of
#: Unicode's Dash_Punctuation category (Pd: hyphen-minus, the hyphens and dashes, two- and
#: three-em dash, small, full-width and presentation-form dashes...) read from the running
#: Python's Unicode database, not a hand list (review 148 D2b), and :data:`DASH_NOT_PD`. Planes 0 and 1
#: only: the planes above hold ideographs, tags and private use, no punctuation, and scanning all 17
#: cost 86 ms at every CLI start (a test compares the two scans).
DASH_PLANES = 0x20000
DASHES = "".join(re.escape(c) for c in (*(c for c in map(chr, range(DASH_PLANES))
                                           if unicodedata.category(c) == "Pd"), *DASH_NOT_PD))
_NAMED_ID = re.compile(rf"\b(SRS|RC|RISK|ANOM)(?:\s*[{DASHES}]\s*|[\s_])?(\d{{3,}})\b", re.IGNORECASE)
_STATE = (r"(?:not\s+(?:yet\s+)?)?(?:verified|unverified|acceptable|unacceptable|alara|open|closed|planned|draft|"
          r"approved|retired)")
#: A gloss in brackets after an ID ("RISK-001 (missed lesion)", "[see RC-002]"): skipped when
#: reading what the prose says of the ID.
_GLOSS = r"(?:\s*(?:\([^()\[\]]*\)|\[[^()\[\]]*\]))*"
#: Between two IDs of one list: a comma, "and", "or" (with an optional closing bracket or gloss).
_LIST_GAP = re.compile(rf"{_GLOSS}\s*\)?\s*(?:,\s*(?:(?:and|or)\s+)?|(?:and|or)\s+|/\s*)", re.IGNORECASE)
#: A state asserted right after an ID or a list of IDs (and its gloss).
_ASSERTED = re.compile(rf"{_GLOSS}\s*\)?\s*[,:{DASHES}]?\s*(?:(?:is|are|remains?|stays?|was|were)\s+)?"
                       rf"(?:(?:still|now)\s+)?({_STATE})\b", re.IGNORECASE)


def reduced_factors(plan: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """The factors (``p1``, ``p2``) whose residual level is below the initial one."""
    if not fields.get("residual"):
        return []
    evaluated = evaluate_situation(plan, fields)
    initial, residual = evaluated["initial"], evaluated["residual"]
    return [f for f in ("p1", "p2") if int(residual[f].lstrip("P")) < int(initial[f].lstrip("P"))]


def control_gap(ctx: Any, control: str) -> str | None:
    """Why ``control`` is not in effect (implemented and verified), None when it is."""
    status = ctx.status(control)
    if status != "approved":
        return f"{control} is {status or 'unknown'}"
    implementers = ctx.nodes[control]["fields"]["implemented_by"]
    approved = [r for r in implementers if ctx.status(r) == "approved"]
    if not approved:
        return f"{control} is not implemented by an approved requirement"
    unverified = [r for r in approved if ctx.verdicts[r].status != "verified"]
    return f"{control} is not verified ({', '.join(unverified)})" if unverified else None


EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#: A figure that is a measurement (SRS-181): a count or ratio, a proportion (a decimal from 0 to
#: 1) or a number after a comparison sign, a number with a unit, or a number with a counted noun
#: at most four words on. A digit that continues a word or an ID ("v2", "SRS-002", "0x01") starts
#: no figure, and a bare decimal above 1 reads as a version or clause number ("Python 3.11",
#: "7.2"): it is a figure only with a unit or counted noun ("1.5x", "2.5 s").
_NUMBER = rf"(?<![\w.{DASHES}])\d[\d,]*(?:\.\d+)?"
_UNITS = r"(?:ms|s|µs|us|sec|seconds?|min|minutes?|h|hours?|Hz|B|bytes?|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB|mm|cm|HU|px|x|%)"
_COUNTED = (r"(?:cases?|files?|slices?|series|studies|study|instances?|inputs?|mutants?|vectors?|patterns?|samples?|"
            r"offsets?|kinds?|selections?|attributes?|runs?|trials?|records?|entries|entry|items?|images?|volumes?|"
            r"patients?|packages?|associations?|requests?|errors?|bits?|bytes?|frames?|segments?|labels?|keys?|"
            r"signatures?|readers?|users?|participants?|tasks?|times|repetitions?|iterations?|seeds?|folders?)")
MEASUREMENT = re.compile(
    rf"{_NUMBER}\s*(?:of|/|out of)\s*\d"                      # 12 of 12, 3/3
    rf"|(?<![\w.{DASHES}])(?:0?\.\d+|1\.0+)(?![\w.])"        # 0.95, .5, 1.0: a proportion
    rf"|(?:[=<>\u2264\u2265\u00b1\u2248]|\+/-)\s*\d"            # = 3.2, >= 40, ± 0.4
    rf"|(?<![\w{DASHES}])x\s?\d[\d,]*\b"                     # x866
    rf"|{_NUMBER}\s*{_UNITS}(?![\w])"                         # 120 s, 512 MiB, 1.5x, 95 %
    rf"|{_NUMBER}\s+(?:[\w\-]+\s+){{0,4}}?{_COUNTED}\b",     # 5 cases, 195 Merkle test vectors
    re.IGNORECASE)

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?")
#: Numbers that name rather than measure (SRS-181), blanked out before :data:`MEASUREMENT` is
#: applied: dates and times, versions, and standards with their clause numbers.
NOT_A_FIGURE = re.compile(
    rf"\b\d{{4}}[{DASHES}/.]\d{{1,2}}[{DASHES}/.]\d{{1,2}}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?Z?)?(?!\d)"
    rf"|\b\d{{1,2}}[{DASHES}/.]\d{{1,2}}[{DASHES}/.](?:\d{{4}}|\d{{2}})(?![\d.])"   # 2026-12-03, 03.12.2026
    rf"|\b\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\b|\b{_MONTH}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?\d{{4}}\b"
    # 3 December 2026, Dec 3, 2026, December 2026 (a month name counts only with its year)
    rf"|\b\d{{1,2}}:\d{{2}}(?::\d{{2}})?\b"                                # 20:23
    rf"|\b\d+(?:\.\d+){{2,}}\b"                                        # 3.0.2
    rf"|\b(?:v|ver|version|release|rev|revision|build|edition)\.?\s*\d+(?:\.\d+)*\b"
    rf"|\b(?:ISO|IEC|EN|IEEE|AAMI|ANSI|ASTM|UL|NIST|RFC|FIPS|CFR|MDR|IVDR|PS)(?:[\s/]+(?:ISO|IEC|TR|TS|SP))*"
    rf"\s*\d[\d{DASHES}]*(?::\d{{4}})?(?:\s*,?\s*\d+(?:\.\d+)+)?"            # ISO 14971:2019 7.2
    rf"|(?:\b(?:clauses?|sections?|sect\.|annex(?:es)?|chapters?|articles?|art\.|paragraphs?|para\.|tables?|"
    rf"figures?|fig\.|parts?|steps?|issues?|items?|pages?|lines?|rules?|criteri(?:on|a))|\u00a7)\s*"
    rf"\(?\d+(?:\.\d+)*[a-z]?\)?(?:\s*(?:,|and|to|-)\s*\d+(?:\.\d+)*)*",                # clause 7.2, § 4.1
    re.IGNORECASE)


def is_measurement(measure: str) -> bool:
    """Whether ``measure`` states a figure that is a measurement (:data:`MEASUREMENT`) once the
    numbers that name something (:data:`NOT_A_FIGURE`) are blanked out."""
    return MEASUREMENT.search(NOT_A_FIGURE.sub(" ~ ", measure)) is not None


def is_test_artefact(path: str) -> bool:
    """A test module or a pytest result file, judged by the whole path: evidence of
    implementation, not of effectiveness."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    folders, name = [p.lower() for p in parts[:-1]], parts[-1].lower()
    if "tests" in folders or any(f.startswith("test-results") or f.startswith("test_results") for f in folders):
        return True
    if name == "conftest.py" or (name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))):
        return True
    return name.endswith(".py") and any(f.startswith("tests") for f in folders)


#: The folders the loader reads item files from (risk/, traceability/, security/...), taken from
#: its own list: any YAML file directly in one is judged an item file.
_ITEM_FOLDERS = frozenset(PurePosixPath(path).parts[0] for path in ITEM_PATHS)


def is_item_file(path: str) -> bool:
    """The risk file or the trace items themselves (every file the loader reads the items from:
    :data:`.loader.ITEM_PATHS`, a model manifest, any YAML file in their folders): what is judged
    cannot be its own record."""
    posix = PurePosixPath(path)
    if posix.as_posix() in ITEM_PATHS or MODEL_MANIFEST.fullmatch(posix.as_posix()):
        return True
    parts = posix.parts
    # the suffix in any case: risk/copy.YAML is a YAML file in its folder too (review 154 D1b)
    return len(parts) == 2 and parts[0] in _ITEM_FOLDERS and parts[1].lower().endswith((".yaml", ".yml"))


def _situations(ctx: Any) -> Iterator[tuple[dict[str, Any], list[str]]]:
    plan = next(ctx.of_kind("risk_plan"), None)
    if plan is None:
        return
    for node in ctx.of_kind("hazardous_situation"):
        yield node, reduced_factors(plan["fields"], node["fields"])


def credited_controls(ctx: Any) -> Iterator[Raw]:
    for node, reduced in _situations(ctx):
        if not reduced:
            continue
        reasons = [r for r in (control_gap(ctx, c) for c in node["fields"]["controls"]) if r]
        if reasons:
            yield ("gap", node["id"], "risk reduction", f"{'/'.join(reduced).upper()} reduced crediting controls not "
                   "in effect (ISO 14971 7.2): " + "; ".join(reasons) + ": withdraw the reduction or bring the "
                   "controls into effect")


def _entry_problems(ctx: Any, node: dict[str, Any], entry: dict[str, Any]) -> Iterator[str]:
    listed = node["fields"]["controls"]
    for control in entry["controls"]:
        if control not in listed:
            yield f"{control} is not a control of {node['id']}"
        elif ctx.nodes[control]["fields"]["type"] == "information" and not entry.get("record"):
            yield f"{control} is information for safety: its effectiveness needs a record (usability or other study)"
    if not is_measurement(entry["measure"]):
        yield "measure states no figure (how many cases, what outcome)"
    record = entry.get("record")
    if record:
        digest = node.get("effectiveness_records", {}).get(record)
        copied = [run["source"] for run in ctx.graph.get("runs", []) if digest and run.get("sha256") == digest]
        output = node.get("effectiveness_test_output", {}).get(record)
        copy_of = node.get("effectiveness_item_copies", {}).get(record)
        # what the record resolves to in the project (a graph from before the field: its spelling)
        targets = node.get("effectiveness_targets", {})
        target = targets[record] if record in targets else record
        link = f" (it resolves to {target})" if target is not None and target != record else ""
        if target is None:
            yield f"record {record} resolves outside the project (or not at all), not a committed measured outcome"
        elif is_test_artefact(record) or is_test_artefact(target):
            yield f"record {record} is a test or test result{link}, not a measured outcome"
        elif copied:
            yield f"record {record} is a copy of the test results {copied[0]}, not a measured outcome"
        elif output:
            yield f"record {record} is by its content {output}, not a measured outcome"
        elif is_item_file(record) or is_item_file(target) or copy_of:
            # a byte copy of a file the items are read from, wherever it lives (review 154 D1b)
            why = f" (a byte copy of {copy_of})" if copy_of and copy_of != target else link
            yield f"record {record} is the risk file or the trace items{why}, not a measured outcome"
        elif digest is None:
            yield f"record {record} does not exist"
        elif digest == EMPTY_SHA256:
            yield f"record {record} is empty"
    for requirement in entry.get("requirements", []):
        if ctx.status(requirement) != "approved":
            yield f"{requirement} is {ctx.status(requirement) or 'unknown'}"
        elif ctx.verdicts[requirement].status != "verified":
            yield f"{requirement} is not verified"
        elif not any(requirement in ctx.nodes[c]["fields"]["implemented_by"] for c in entry["controls"]
                     if c in ctx.nodes and ctx.nodes[c]["kind"] == "risk_control"):
            yield f"{requirement} implements none of {', '.join(entry['controls'])}"


def effectiveness(ctx: Any) -> Iterator[Raw]:
    for node, reduced in _situations(ctx):
        entries = node["fields"].get("effectiveness") or []
        if not reduced:
            continue
        for factor in reduced:
            backed = [e for e in entries if factor in e["reduces"]]
            if not backed:
                yield ("gap", node["id"], "effectiveness", f"{factor.upper()} reduced without effectiveness evidence "
                       "(a measured record or challenge-tested requirements; ISO 14971 7.2)")
        for index, entry in enumerate(entries, 1):
            problems = list(_entry_problems(ctx, node, entry))
            if problems:
                yield ("gap", node["id"], "effectiveness", f"evidence {index} ({', '.join(entry['controls'])}): "
                       + "; ".join(problems))


def respecified(ctx: Any) -> Iterator[Raw]:
    for node in ctx.of_kind("requirement"):
        changes = node["fields"].get("respecifications") or []
        if not changes:
            continue
        when = ", ".join(f"{c['date']} ({c['record']})" for c in changes)
        reviews = node.get("independent_reviews") or []
        status = node["fields"]["status"]
        if reviews:
            by = "; ".join(f"{r['by']} on {r['date']}" for r in reviews)
            yield ("warning", node["id"], "re-specified", f"acceptance criterion changed after results were seen "
                   f"({when}); independently reviewed by {by}")
        elif status in NOT_YET:
            yield ("open", node["id"], "re-specified", f"acceptance criterion changed after results were seen ({when}); "
                   "no independent review at its current content")
        else:
            yield ("gap", node["id"], "re-specified", f"{status}, but its acceptance criterion changed after results "
                   f"were seen ({when}) and no independent review record exists at its current content")


def observed_state(ctx: Any, item: str) -> str | None:
    """The state a benefit-risk claim about ``item`` is compared with, None for an unknown item."""
    node = ctx.nodes.get(item)
    if node is None:
        return None
    kind, fields = node["kind"], node["fields"]
    if kind == "requirement":
        if fields["status"] != "approved":
            return str(fields["status"])
        return "verified" if ctx.verdicts[item].status == "verified" else "not verified"
    if kind == "risk_control":
        if fields["status"] != "approved":
            return str(fields["status"])
        return "not verified" if control_gap(ctx, item) else "verified"
    if kind == "hazardous_situation":
        plan = next(ctx.of_kind("risk_plan"), None)
        return None if plan is None else str(evaluate_situation(plan["fields"], fields)["residual"]["acceptability"])
    if kind == "anomaly":
        return str(fields["status"])
    return None


def _prose(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def _canonical_state(words: str) -> str:
    text = " ".join(words.lower().split()).replace("not yet ", "not ")
    return {"unverified": "not verified", "not acceptable": "unacceptable"}.get(text, text)


def named_ids(text: str) -> list[tuple[str, int, int]]:
    """The SRS, RC, RISK and ANOM IDs named in ``text`` (any case or separator), normalised,
    with their spans."""
    return [(f"{m.group(1).upper()}-{m.group(2)}", m.start(), m.end()) for m in _NAMED_ID.finditer(text)]


def _assertions(text: str) -> list[tuple[list[str], str, int, int]]:
    """``(IDs, state, start, end)`` for each state the prose asserts right after an ID or a list
    of IDs (and its gloss in brackets); ``start``/``end`` span the state's words."""
    found: list[tuple[list[str], str, int, int]] = []
    ids = named_ids(text)
    group: list[str] = []
    for index, (item, _start, end) in enumerate(ids):
        group.append(item)
        following = ids[index + 1] if index + 1 < len(ids) else None
        if following is not None and _LIST_GAP.fullmatch(text[end:following[1]]):
            continue  # the list goes on
        asserted = _ASSERTED.match(text, end)
        if asserted:
            found.append((group, _canonical_state(asserted.group(1)), asserted.start(1), asserted.end(1)))
        group = []
    return found


def prose_states(text: str) -> list[tuple[str, str]]:
    """``(ID, state)`` for each state the prose asserts right after an ID or a list of IDs."""
    return [(member, state) for group, state, _start, _end in _assertions(text) for member in group]


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_ACCEPTABLE = re.compile(r"\bacceptabl[ey]\b", re.IGNORECASE)
#: A negation among the four words before "acceptable" ("is not acceptable", "no longer acceptable").
_NEGATED = re.compile(r"(?:\b(?:not|no|never|neither|nor|cannot|without)\b|n't\b)(?:\W+\w+){0,3}\W*\Z",
                      re.IGNORECASE)
#: A hypothetical rather than a conclusion: a modal or condition just before, or a condition right after.
_HYPOTHETICAL_BEFORE = re.compile(r"\b(?:would|could|might|if|once|unless|provided)\b(?:\W+\w+){0,5}\W*\Z",
                                  re.IGNORECASE)
_HYPOTHETICAL_AFTER = re.compile(r"\W*(?:only\s+)?(?:if|once|when|unless|provided|after)\b", re.IGNORECASE)
#: What the sentence must be about, outside the overall residual risk field, to conclude overall.
#: The benefit-risk in either word order, with any separator ("risk-benefit", ISO 14971:2007's
#: "risk/benefit", "risk benefit": review 154 D2a), singular or plural, with "to" between (review 158 D2).
_OVERALL_SUBJECT = re.compile(r"\b(?:overall|residual\s+risks?|the\s+device"
                              r"|benefits?\W+(?:to\W+)?risks?|risks?\W+(?:to\W+)?benefits?)\b", re.IGNORECASE)


def overall_acceptable(text: str, *, overall_field: bool) -> list[str]:
    """The sentences of ``text`` that conclude the overall residual risk acceptable (ISO 14971 8):
    "acceptable" (or "acceptably") not negated, not hypothetical (would, if, once...), not a state
    the prose gives an ID (:func:`prose_states`), in the overall residual risk field or in a
    sentence about the overall or residual risk, the device or the benefit-risk, said before or
    after the word; an ID named before it in the sentence (or after it, when the subject comes
    only after it) makes it about that item unless the sentence says "overall"."""
    taken = [(start, end) for _group, _state, start, end in _assertions(text)]
    found: list[str] = []
    position = 0
    for sentence in _SENTENCE_END.split(text):
        begin = text.index(sentence, position)
        position = begin + len(sentence)
        for word in _ACCEPTABLE.finditer(sentence):
            at = begin + word.start()
            before, after = sentence[:word.start()], sentence[word.end():]
            if any(start <= at < end for start, end in taken) or _NEGATED.search(before) \
                    or _HYPOTHETICAL_BEFORE.search(before) or _HYPOTHETICAL_AFTER.match(after):
                continue
            overall = re.search(r"\boverall\b", sentence, re.IGNORECASE) is not None
            if named_ids(before) and not overall:
                continue
            # the subject on either side, whatever the word order ("we judge as acceptable the
            # overall residual risk": review 148 D2a); an ID after the word, with the subject only
            # after it, makes the sentence about that item too, unless it says "overall"
            subject_after = _OVERALL_SUBJECT.search(after) is not None and (overall or not named_ids(after))
            if overall_field or _OVERALL_SUBJECT.search(before) or subject_after:
                found.append(sentence.strip())
                break
    return found


def benefit_claims(ctx: Any) -> Iterator[Raw]:
    node = next(ctx.of_kind("benefit_risk"), None)
    if node is None:
        return
    fields = node["fields"]
    texts = [_prose(fields[name]) for name in ("benefits", "statement", "overall_residual_risk")]
    claims = {claim["item"]: claim["state"] for claim in fields.get("claims") or []}
    named = {item for text in texts for item, _s, _e in named_ids(text)}
    unclaimed = sorted(named - set(claims))
    if unclaimed:
        yield ("gap", node["id"], "benefit-risk", "names items without a claimed state the gate can check: "
               + ", ".join(unclaimed))
    asserted = sorted({pair for text in texts for pair in prose_states(text)})
    for item, said in asserted:
        if item in claims and said != claims[item]:
            yield ("gap", node["id"], "benefit-risk", f"the prose says {item} is {said!r}, its claim says "
                   f"{claims[item]!r}")
    for item, claimed in sorted(claims.items()):
        actual = observed_state(ctx, item)
        if actual is None:
            yield ("gap", node["id"], "benefit-risk", f"claims {item} is {claimed!r}, but the graph has no such item")
        elif actual != claimed:
            yield ("gap", node["id"], "benefit-risk", f"says {item} is {claimed!r}, the graph shows {actual!r}")
    concluded = [sentence for name in ("benefits", "statement", "overall_residual_risk")
                 for sentence in overall_acceptable(_prose(fields[name]),
                                                    overall_field=name == "overall_residual_risk")]
    if concluded:
        unacceptable = sorted(n["id"] for n in ctx.of_kind("hazardous_situation")
                              if observed_state(ctx, n["id"]) == "unacceptable")
        if unacceptable:
            yield ("gap", node["id"], "benefit-risk", "concludes the overall residual risk acceptable while residual "
                   "risks are unacceptable: " + ", ".join(unacceptable))


def soup_anomaly_reviews(ctx: Any) -> Iterator[Raw]:
    for node in ctx.of_kind("soup"):
        fields = node["fields"]
        state = fields.get("anomaly_review_state") or "not stated"
        if fields["runtime"] and state != "complete":
            yield ("gap" if ctx.release else "warning", node["id"], "soup anomaly review",
                   f"anomaly list review is {state} for a runtime component (IEC 62304 7.1.3; a gap with --release)")


RULES = (credited_controls, effectiveness, respecified, benefit_claims, soup_anomaly_reviews)
