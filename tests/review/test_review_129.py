"""Independent review 129 (reviewer helper-129) of SRS-226 (helper-125, f16c146) and SRS-227/SRS-228
(helper-126, 7a20d1f), all draft, at HEAD 3cbefde (none of the reviewed files changed since 7a20d1f).
helper-129 wrote none of the code, the requirements, the threats, the plan or their tests. Reviewed (``git
show``): cleartext.py, config.py (Destination.cleartext_host, _cleartext, node_cleartext_reason), node/server.py,
node/hot_folder.py, cli/settings.py, threats THR-007/010/011/014 against security/plan.yaml;
risk/post_production.yaml, post_production.py, post_production_items.py, loader.py _check_post_production,
risk_review.py, check.py (risk_management_review, check_graph), the risk report template, GSPR-3,
C62304-4.2, and helper-126's edits of reviews 89, 90, 92, 93, 94.

1. SRS-226 (clear text only on loopback): DEFECT 1, otherwise the behaviour holds.
   Loopback is 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x (also spelled ::ffff:7f00:1), "localhost" in any
   case (cleartext.py:40-51); every other spelling counts as the network and fails closed: 0.0.0.0, "::", "",
   blanks, ::127.0.0.1, 127.1, 0x7f000001, 2130706433, 127.000.000.001, ip6-localhost, a name that merely starts
   with 127. (test_h01; the bind address itself cannot be empty, config.py:251). serve refuses each of them without
   TLS or a reason (test_h02), from the environment as from the file; blank, short, letter-less reasons are refused
   there too (test_h03). A stow URL is judged by the host the request goes to: user info shaped like a loopback
   host (http://127.0.0.1:80@10.0.0.5/), odd ports, [::1], [::ffff:10.0.0.5]; request_url drops the user info by
   the same rpartition (config.py:99-106, 119-123; test_h04). ``device-ai serve`` on "::" and ``device-ai watch``
   with a clear network destination exit DAI-100 with nothing in the device home (no spool, no audit entry), and
   config show names an accepted reason (test_h05). The refusal is made before NodeRuntime (server.py:123-125);
   a refused start is not audited, as the text says.
2. SRS-227 (post-production plan): DEFECT 3, otherwise holds. Removing any one of the 8 source, 5 criterion or 4
   action kinds from the repository's plan names exactly that part (test_h10); the security reference counts only
   on a vulnerabilities source and only as "security/plan.yaml" (test_h11); a directory, an absolute or ../ path,
   empty sources or responsibilities, an unknown criterion kind and a role in another case are refused with
   file:line (test_h12); a plan edited after its review is a gate gap that the record lists under (a) (test_h13);
   a report without a plan says so in section 7 and the record names it under (a) and (c) (test_h14).
3. SRS-228 (clause 9 record): DEFECT 2 (and 3's effect on (c)), otherwise holds. The record is computed from the
   graph and the release gate's other findings (check.py:375-398); on this repository every question and every
   criterion of (b) fails, (c) as "complete but not in effect", and GSPR-3 and C62304-4.2 say that (test_h20).
   RISK-REVIEW is a gap with --release and open without exactly when the record is not complete, and a complete
   record leaves no gap or open item of the risk file, over five projects (test_h21). No verdict is written by
   hand in the template or the files; what the record reads from hand-written text is the plan's in_effect
   boolean and the benefit-risk statement's words (criterion 4: defect 2).
4. helper-126's edits of reviews 89/90/92/93/94: honest, each still tests what its reviewer meant. The gap they
   now admit comes only from _no_overall_conclusion (the benefit statement; with review 89 d1's empty plan, only
   RISK-PLAN) and disappears without it (test_h22). Weaker than needed: 92/93/94 match RISK-REVIEW by its first
   words only, and review 89 o1's last step now asserts "fails with only RISK-REVIEW" where its docstring says the
   committed edit "passes --release"; the same scenario with a concluding statement does pass with exit 0
   (test_h23), so o1 could have kept its claim, as c16's control did.
5. THR-007/010/011/014: residual E3 -> E2 (I4 x E2: ALARA, was I4 x E3: unacceptable). See N1; their rationales
   rest on SRS-226's rule, which defect 1 breaks in one spelling, so no record for them.

Defects (each a strict xfail beside a passing pin and a control):

1. (SRS-226; THR-007/010/011/014) cleartext.py:43 strips trailing dots before deciding, so "127.0.0.1.",
   "::1." and "localhost." count as loopback: serve starts on them without TLS or reason and a dimse destination
   loads without a reason, nothing in the start entry. None of them is an address (ipaddress and inet_pton refuse
   "127.0.0.1."), so the OS resolves each as a DNS name; here (glibc 2.36, hosts: files ... dns) getaddrinfo
   finds "localhost" in /etc/hosts but not "localhost.", which goes to DNS. Whoever answers that DNS query chooses
   where clear text goes, the case the rule exists for; the text says names are not resolved and only
   "localhost" is loopback. Pin test_d1_pin_trailing_dot_names_count_as_loopback_though_they_are_no_address
   (control: "10.0.0.5." refused, "127.0.0.1" is an address); strict xfail test_d1_trailing_dot_names_need_a_reason.
   Fix: do not strip the trailing dot (a dotted name counts as the network, as other names do), and drop
   "LocalHost." from tests/node/test_cleartext.py's loopback list.
2. (SRS-228) risk_review.py:293 takes criterion 4 as met when overclaim.overall_acceptable finds an unnegated
   "acceptable"; that reader misses a negation after the word or more than four words before it. "Whether the
   overall residual risk is acceptable has not been decided.", "The overall residual risk has not yet been shown
   to be acceptable." and "Undecided whether acceptable." each give a complete record and a passing release gate
   in the complete mini project. The text requires a statement that "concludes the overall residual risk
   acceptable", and its acceptance has "one that does not conclude acceptable" make the record not complete.
   Pin test_d2_pin_statements_that_conclude_nothing_complete_the_record (control: "Not yet concluded." fails
   criterion 4 and the gate); strict xfail test_d2_a_statement_that_concludes_nothing_leaves_the_record_not_complete.
   Fix: a typed conclusion (e.g. benefit.yaml overall_conclusion: acceptable | not_acceptable | not_concluded) for
   the record to read, or a reader that refuses any negation, "whether" or question in the sentence; or say the
   limit in SRS-228's text and rationale (which now claim only that a statement without the word is missed).
3. (SRS-227, SRS-228 (c)) post_production.py:44-45 checks that the vulnerabilities source names the string
   "security/plan.yaml", and loader.py:401-406 that such a file exists; neither checks that it holds a security
   plan. helper-126's own complete mini project refers to a comment-only stub: no security_plan node and no
   monitoring anywhere, yet the record answers (c) "the plan is complete and in effect", concludes complete and the
   release gate passes. SRS-227 says the vulnerability monitoring is referenced. Pin
   test_d3_pin_an_empty_security_plan_file_completes_the_vulnerabilities_source (control: without the reference
   (c) fails); strict xfail test_d3_the_vulnerabilities_source_needs_a_security_plan. Fix: count the reference only
   when the graph holds the SECURITY-PLAN node (its monitoring is a required field), and give the mini project a
   security plan.

Lead, 2026-12-07 (not re-reviewed): defect 1 fixed - is_loopback keeps a trailing dot (a DNS name, not loopback;
test_cleartext's "LocalHost." became "LocalHost"), and a reason with U+2028/U+2029 is refused (note); defect 2
fixed - criterion 4 holds only when the statement's first word is the verdict "Acceptable" and the sentence
reads as a conclusion; the d1/d2 pins assert the fixes, their xfails are plain tests. Defect 3 is NOT fixed
(giving the mini project a security plan cascades into its other items): SRS-227 and SRS-228 stay draft.

Lead, 2026-12-07, second fix (not re-reviewed): defect 3 fixed - post_production.missing_parts takes whether the
graph holds the security plan (SECURITY-PLAN) and names "the security plan the vulnerabilities source refers to"
as a missing part when it does not (the gate rule, the clause 9 record's (c) and the risk report's section 7 all
pass it); the mini project (tests/regulatory/miniproject.py) now has a security file whose gate passes (one asset,
interface, threat, use case and the security plan; moved from test_security_gate.security_items). d3's pin and
former xfail assert the fix on the mini project without its security file.

Notes (no xfail):
N1 THR-007/010/011/014 E2. On security/plan.yaml's wording E2 means the attacker needs the device's account, a
   host administrator or physical access. Once a site writes a reason, which the threats' own earlier text says is
   the norm on a hospital LAN ("C-STORE stays plain"), the attacker needs only a position on the network: the
   scale's E3, unacceptable at I4. E2 is defensible only by the project's convention (THR-004 and THR-018 use it
   too) of assessing the shipped secure default and leaving a documented deviation to the site. The rationales do
   say that "a site that states a reason carries the risk of that network". Recommend that they say so in the
   scale's terms, and that the IFU tell sites so.
N2 A reason with U+2028 (a Unicode line separator, not a control character) is accepted (check_reason refuses
   categories Cc and Cs only). The audit log splits on "\n" only, so the entry stays whole. A viewer may show the
   reason on two lines.
N3 GSPR-3's open_points and C62304-4.2's note state the record's present conclusion ("not complete for
   release") by hand. It is true now (test_h20). If the record ever completes, these texts go stale and understate.
N4 The reason check is a floor: "VLAN trust" (10 characters) is refused, "aaaaaaaaaaaa" is accepted. The text
   promises no more.

Independent review records: GSPR-3, C62304-4.2 (their texts say what is true: test_h20) and
POST-PRODUCTION-PLAN (the repository's plan: complete, in_effect false with its reason, roles only; its security
reference resolves to a real plan here, so defect 3 is not a defect of this text). None for SRS-226, SRS-227,
SRS-228 (defects 1-3) nor for THR-007/010/011/014 (they rest on defect 1's rule; N1).

Mutation check (copies /tmp/h129/mut/<name>/src of src/ by /tmp/h129/mutate.py, this file run with the copy first
on PYTHONPATH; /work/main/src untouched): C1 no IPv4-mapped branch (cleartext 51): h01; C2 "127." prefix is
loopback: h01, h02; C3 stow host from the netloc before the '@': h04 (5); C4 REASON_MIN_CHARS = 1: h03; C5 more
names taken for loopback: h01; P1 the security reference on any source: h11; P2 loader takes a directory: h12; R1
POST-PRODUCTION-PLAN not a risk-file ID: h14; R2 in_effect ignored: h20; R3 no open RISK-REVIEW without
--release: h21 (3); R4 criterion 4 always met: d2 pin, h21, h22. 11 behaviour mutants, 11 killed. Fix mutants:
D1fix (no rstrip) and D2fix (no 'whether'/'not'/'undecided' in the sentence) each flip only their pin and xfail;
D3fix ((c) needs the SECURITY-PLAN node) flips d3's pin and xfail and, as expected, every complete-mini-project
control (the mini project has no security plan).

NOT checked: real DNS answers for trailing-dot names (no DNS here); a real TLS peer (tests/node/test_tls.py and
test_transport_security.py do that); whether the repository's post-production plan's sources are sensible
clinically (read, judged plausible, not reviewed as a plan).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai.errors import ConfigError, TraceabilityError
from tests import fast_yaml
from tests.regulatory.miniproject import (
    HEAD,
    baseline,
    build,
    default_items,
    passing_results,
    write_project,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]
REASON = "modality VLAN 12, isolated, no route to other networks"
PPP = "risk/post_production.yaml"


# === SRS-226: clear text only on loopback unless the site states why =========================================

def _destinations(monkeypatch: pytest.MonkeyPatch, *destinations: dict) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps(list(destinations)))


def _load():  # noqa: ANN202 - Settings
    from device_ai.config import load_settings

    return load_settings()


def _dimse(host: str, **extra: object) -> dict:
    return {"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": host, "port": 104, **extra}


def _stow(url: str, **extra: object) -> dict:
    return {"name": "web", "kind": "stow", "url": url, **extra}


LOOPBACK = ["127.0.0.2", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1",
            "localhost", "LOCALHOST", " 127.0.0.1 "]
# names and spellings the OS may map to loopback, but the rule does not resolve: they count as the network
# (fails closed), as do the wildcard addresses and anything that is not an address
NETWORK = ["0.0.0.0", "::", "", "   ", "10.0.0.5", "::ffff:10.0.0.5", "::127.0.0.1", "127.1", "0x7f000001",
           "2130706433", "127.000.000.001", "ip6-localhost", "localhost.localdomain", "127.0.0.1.evil.example",
           "fe80::1%lo", "localhost\x00"]


@pytest.mark.req("SRS-226")
def test_h01_what_counts_as_loopback() -> None:
    from device_ai.cleartext import is_loopback, needs_reason

    assert [h for h in LOOPBACK if not is_loopback(h) or needs_reason(h)] == []
    assert [h for h in NETWORK if is_loopback(h) or not needs_reason(h)] == []
    assert not needs_reason(None)  # None: encrypted or no network transport
    # control: a prefix test (what a quick rule would do) takes a network name for loopback
    assert "127.0.0.1.evil.example".startswith("127.") and not is_loopback("127.0.0.1.evil.example")


@pytest.mark.req("SRS-226")
@pytest.mark.parametrize("address", ["0.0.0.0", "::", "::ffff:10.0.0.5", "127.1", "   "])
def test_h02_the_listener_is_refused_on_every_non_loopback_spelling(address: str) -> None:
    from device_ai.cleartext import check_listener

    with pytest.raises(ConfigError, match="is not a loopback address") as refused:
        check_listener(address, tls=False, reason=None)
    assert "node_cleartext_reason" in str(refused.value.hint)
    assert check_listener(address, tls=True, reason=None) is None  # control: with TLS it passes
    assert check_listener(address, tls=False, reason=REASON) == REASON  # control: with a reason, kept


@pytest.mark.req("SRS-226")
def test_h03_an_empty_bind_address_and_blank_reasons_are_refused_in_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_BIND_ADDRESS", "")
    with pytest.raises(ConfigError, match="node_bind_address"):
        _load()
    monkeypatch.setenv("DEVICE_AI_NODE_BIND_ADDRESS", "0.0.0.0")
    for blank in ("", "            ", "\u00a0" * 14, "............", "0123456789012", "n/a", "VLAN trust"):
        monkeypatch.setenv("DEVICE_AI_NODE_CLEARTEXT_REASON", blank)
        with pytest.raises(ConfigError, match="node_cleartext_reason"):
            _load()
        monkeypatch.delenv("DEVICE_AI_NODE_CLEARTEXT_REASON")
        _destinations(monkeypatch, _dimse("10.0.0.5", cleartext_reason=blank))
        with pytest.raises(ConfigError, match="cleartext_reason"):
            _load()
        monkeypatch.delenv("DEVICE_AI_NODE_DESTINATIONS")
    # control: a statement is kept, stripped, from the environment as from the file
    monkeypatch.setenv("DEVICE_AI_NODE_CLEARTEXT_REASON", f"\t{REASON}  ")
    _destinations(monkeypatch, _dimse("10.0.0.5", cleartext_reason=REASON))
    settings = _load()
    assert settings.node_cleartext_reason == REASON and settings.node_destinations[0].cleartext_reason == REASON


@pytest.mark.req("SRS-226")
@pytest.mark.parametrize(("url", "extra", "host"), [
    ("http://127.0.0.1:8042/dicom-web/studies", {}, "127.0.0.1"),
    ("http://[::1]:8042/dicom-web/studies", {}, "::1"),
    ("http://LOCALHOST:1/dicom-web/studies", {}, "localhost"),
    ("http://u:pw@127.0.0.1:8042/dicom-web/studies", {"allow_plaintext_credentials": True}, "127.0.0.1"),
    ("http://127.0.0.1:80@10.0.0.5/dicom-web/studies", {"allow_plaintext_credentials": True}, "10.0.0.5"),
    ("http://10.0.0.5:443/dicom-web/studies", {}, "10.0.0.5"),
    ("http://[::ffff:10.0.0.5]:8042/x", {}, "::ffff:10.0.0.5"),
    ("https://10.0.0.5:80/dicom-web/studies", {}, None),
])
def test_h04_a_stow_url_is_judged_by_the_host_it_is_sent_to(monkeypatch: pytest.MonkeyPatch, url: str,
                                                             extra: dict, host: str | None) -> None:
    """User info that looks like a loopback host, odd ports, IPv6 and IPv4-mapped hosts: the host judged
    is the host the request goes to (request_url drops the user info the same way)."""
    from urllib.parse import urlsplit

    from device_ai.cleartext import needs_reason

    _destinations(monkeypatch, _stow(url, **extra))
    if needs_reason(host):
        with pytest.raises(ConfigError, match=f"in clear to {host}"):
            _load()
        _destinations(monkeypatch, _stow(url, cleartext_reason=REASON, **extra))  # control: with a reason
    destination = _load().node_destinations[0]
    assert destination.cleartext_host() == host
    assert urlsplit(destination.request_url).hostname == (host or "10.0.0.5")


def _home_files() -> list[Path]:
    import os

    return sorted(Path(os.environ["DEVICE_AI_HOME"]).rglob("*"))


@pytest.mark.req("SRS-226")
def test_h05_serve_on_ipv6_wildcard_and_watch_with_a_clear_network_destination_leave_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from device_ai.cli import main
    from tests.node.conftest import node_env

    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the commands install handlers; not in pytest
    node_env(monkeypatch, node_bind_address="::")
    assert main(["serve"]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "error DAI-100" in err and "node_bind_address :: is not a loopback address" in err
    assert "Traceback" not in err and _home_files() == []  # no spool, no audit log, no start entry
    node_env(monkeypatch)  # loopback listener; the destination is what is refused
    _destinations(monkeypatch, _dimse("::ffff:10.0.0.5"))
    (tmp_path / "in").mkdir()
    assert main(["watch", str(tmp_path / "in"), str(tmp_path / "out")]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "destination pacs" in err and "cleartext_reason" in err and "Traceback" not in err
    assert _home_files() == [] and not (tmp_path / "out").exists()
    # control: the same destination with a stated reason is shown by config show as accepted
    _destinations(monkeypatch, _dimse("::ffff:10.0.0.5", cleartext_reason=REASON))
    assert main(["config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)["transport"]
    assert shown["destinations"]["pacs"] == f"clear text on the network, accepted by the site: {REASON}"


# --- defect 1: a trailing dot makes a name the OS resolves through DNS count as loopback ---

TRAILING_DOT = ["127.0.0.1.", "localhost.", "::1."]


@pytest.mark.req("SRS-226")
def test_d1_pin_trailing_dot_names_no_longer_count_as_loopback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin of defect 1, inverted by the lead's fix (cleartext.is_loopback keeps the trailing dot)."""
    from device_ai.cleartext import is_loopback

    for name in TRAILING_DOT:
        assert not is_loopback(name)
    # "127.0.0.1." is not an address, for the rule's own parser nor for the OS: it is a DNS name
    with pytest.raises(ValueError):
        ipaddress.ip_address("127.0.0.1.")
    with pytest.raises(OSError):
        socket.inet_pton(socket.AF_INET, "127.0.0.1.")
    # control: the same spellings without the dot are addresses, and a network address with a dot is refused
    socket.inet_pton(socket.AF_INET, "127.0.0.1")
    _destinations(monkeypatch, _dimse("10.0.0.5."))
    with pytest.raises(ConfigError, match="cleartext_reason"):
        _load()


@pytest.mark.req("SRS-226")
def test_d1_trailing_dot_names_need_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.cleartext import check_listener

    for name in TRAILING_DOT:
        with pytest.raises(ConfigError):
            check_listener(name, tls=False, reason=None)
        _destinations(monkeypatch, _dimse(name))
        with pytest.raises(ConfigError, match="cleartext_reason"):
            _load()


# === SRS-227: the production and post-production plan =========================================================

def _plan(items: dict[str, Any]) -> dict[str, Any]:
    return items[PPP]["post_production_plan"]


def _mini(root: Path, change: Callable[[dict], None] | None = None, *, after: Callable[[Path], None] | None = None,
          drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The mini project's graph (every test of it passing), with ``change`` to its items before the
    reviews and ``after`` to its files after them."""
    items = copy.deepcopy(default_items())
    if change is not None:
        change(items)
    for rel in drop:
        del items[rel]
    write_project(root, items)
    baseline(root)
    if after is not None:
        after(root)
    return build(root, write_results(root, passing_results()))


def _release(graph: dict[str, Any]):  # noqa: ANN202 - CheckReport
    from device_ai.regulatory.check import check_graph

    return check_graph(graph, head=HEAD, release=True)


def _record(graph: dict[str, Any]):  # noqa: ANN202 - ReviewRecord
    from device_ai.regulatory.check import risk_management_review

    return risk_management_review(graph, head=HEAD)


def _named(record, key: str) -> list[str]:  # noqa: ANN001
    question = record.question(key)
    return [i.item for i in (*question.open_items, *(i for c in question.criteria for i in c.open_items))]


@pytest.mark.req("SRS-227")
def test_h10_every_part_of_the_repository_plan_is_required() -> None:
    from device_ai.regulatory.loader import load_project
    from device_ai.regulatory.post_production import missing_parts
    from device_ai.regulatory.post_production_items import REQUIRED_ACTIONS, REQUIRED_CRITERIA, REQUIRED_SOURCES

    fields = load_project(ROOT).post_production.item.model_dump(mode="json")
    assert missing_parts(fields, security_plan=True) == [] and fields["in_effect"] is False  # control: the plan as it is
    for name, required, label in (("sources", REQUIRED_SOURCES, "source"),
                                  ("review_criteria", REQUIRED_CRITERIA, "review criterion"),
                                  ("actions", REQUIRED_ACTIONS, "action")):
        for kind in required:
            less = {**fields, name: [e for e in fields[name] if e["kind"] != kind]}
            missing = missing_parts(less, security_plan=True)
            assert len(missing) == 1 and missing[0].startswith(f"{label} {kind} ("), (kind, missing)


@pytest.mark.req("SRS-227")
def test_h11_the_security_reference_counts_only_on_the_vulnerabilities_source() -> None:
    from device_ai.regulatory.loader import load_project
    from device_ai.regulatory.post_production import missing_parts

    fields = load_project(ROOT).post_production.item.model_dump(mode="json")
    moved = copy.deepcopy(fields)
    for source in moved["sources"]:
        source["references"] = ["security/plan.yaml"] if source["kind"] == "literature" else []
    missing = [m.split(" (")[0] for m in missing_parts(moved, security_plan=True)]
    assert missing == ["the vulnerabilities source refers to security/plan.yaml"]
    spelled = copy.deepcopy(fields)
    for source in spelled["sources"]:
        if source["kind"] == "vulnerabilities":
            source["references"] = ["./security/plan.yaml"]
    assert missing_parts(spelled, security_plan=True) != []  # another spelling of the path is not taken for the reference
    assert missing_parts(fields, security_plan=True) == []  # control


@pytest.mark.req("SRS-227")
@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["sources"][5].update(references=["security"]), "which is not a file of the project"),
    (lambda p: p["sources"][5].update(references=["/etc/passwd"]), "must be a path inside the repository"),
    (lambda p: p["sources"][5].update(references=["../security/plan.yaml"]), "must be a path inside the repository"),
    (lambda p: p.update(sources=[]), "sources"),
    (lambda p: p.update(responsibilities=[]), "responsibilities"),
    (lambda p: p["review_criteria"][0].update(kind="new_risk"), "review_criteria.0.kind"),
    (lambda p: p["sources"][0].update(collected_by="ra"), "not a role of its responsibilities"),
])
def test_h12_more_malformed_plans_are_refused_on_load(tmp_path: Path, change: Callable[[dict], Any],
                                                     message: str) -> None:
    from device_ai.regulatory.loader import load_project

    items = copy.deepcopy(default_items())
    change(_plan(items))
    with pytest.raises(TraceabilityError) as refused:
        load_project(write_project(tmp_path / "bad", items))
    assert any(p.startswith(f"{PPP}:") and message in p for p in refused.value.problems), refused.value.problems
    assert load_project(write_project(tmp_path / "good")).post_production is not None  # control


@pytest.mark.req("SRS-227", "SRS-228")
def test_h13_a_plan_changed_since_its_review_leaves_the_record_not_complete(tmp_path: Path) -> None:
    def edit(root: Path) -> None:
        path = root / PPP
        path.write_text(path.read_text(encoding="utf-8").replace("In effect since release 1.0.",
                                                                 "In effect since release 1.1."), encoding="utf-8")

    graph = _mini(tmp_path / "edited", after=edit)
    record = _record(graph)
    assert not record.complete and "POST-PRODUCTION-PLAN" in _named(record, "a")
    assert [f.item for f in _release(graph).section("gap")] == ["POST-PRODUCTION-PLAN", "RISK-REVIEW"]
    assert _record(_mini(tmp_path / "control")).complete  # control: unedited


@pytest.mark.req("SRS-227", "SRS-228")
def test_h14_a_report_without_a_plan_says_so_in_section_7(tmp_path: Path) -> None:
    from device_ai.regulatory.render import DOCUMENTS, render_all
    from device_ai.regulatory.render.view import TraceView

    root = tmp_path / "none"
    graph = _mini(root, drop=(PPP,))
    page = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file == "risk-report.html"])["risk-report.html"]
    section = page[page.index('id="clause-10"'):]
    assert "was not found: there is no production and post-production plan" in section
    assert "the risk management process is not complete for release" in page
    assert _named(_record(graph), "c") == ["POST-PRODUCTION-PLAN"]
    assert "POST-PRODUCTION-PLAN" in _named(_record(graph), "a")  # the gate's open item of the risk file
    assert _record(_mini(tmp_path / "control")).question("c").holds  # control: with the plan


# --- defect 3: a reference to a file that holds no security plan completes the plan ---

def _without_security_plan(items: dict) -> None:
    """The mini project's security plan replaced by a comment-only file (as the mini project had before
    the lead's fix of defect 3): the reference resolves to a file that holds no plan."""
    del items["security/plan.yaml"]
    for name in ("security/assets.yaml", "security/interfaces.yaml", "security/threats.yaml",
                 "security/use_cases.yaml"):
        del items[name]


@pytest.mark.req("SRS-227", "SRS-228")
def test_d3_pin_an_empty_security_plan_file_no_longer_completes_the_vulnerabilities_source(tmp_path: Path) -> None:
    root = tmp_path / "mini"
    graph = _mini(root, _without_security_plan)
    assert (root / "security/plan.yaml").read_text(encoding="utf-8").startswith("#")  # a comment, no plan
    assert not [n for n in graph["nodes"] if n["kind"] == "security_plan"]  # no monitoring anywhere
    record = _record(graph)
    assert not record.question("c").holds and record.question("c").answer == "the plan is incomplete"
    assert not record.complete and not _release(graph).passed
    # control: the mini project with its security plan completes the record (lead's fix: it has one now)
    graph = _mini(tmp_path / "with-plan")
    assert [n for n in graph["nodes"] if n["kind"] == "security_plan"]
    assert _record(graph).question("c").holds and _release(graph).passed


@pytest.mark.req("SRS-227", "SRS-228")
def test_d3_the_vulnerabilities_source_needs_a_security_plan(tmp_path: Path) -> None:
    assert not _record(_mini(tmp_path / "mini", _without_security_plan)).question("c").holds


# === SRS-228: the generated clause 9 review record ============================================================

@pytest.mark.req("SRS-228")
def test_h20_the_repository_record_and_the_wrapper_texts_agree(tmp_path: Path) -> None:
    from tests.regulatory_render.conftest import HEAD as RENDER_HEAD
    from tests.regulatory_render.conftest import build_graph, copy_items, sample_results, write_run

    from device_ai.regulatory.check import risk_management_review

    root = copy_items(tmp_path / "repo")
    record = risk_management_review(build_graph(root, write_run(root / "r.json", root, sample_results())),
                                    head=RENDER_HEAD)
    assert [(q.key, q.holds) for q in record.questions] == [("a", False), ("b", False), ("c", False)]
    assert [c.holds for c in record.question("b").criteria] == [False] * 4
    assert record.question("c").answer == "the plan is complete but not in effect"
    gspr = next(r for r in fast_yaml.safe_load((ROOT / "submission/gspr.yaml").read_text(encoding="utf-8"))["gspr"]
                if r["id"] == "GSPR-3")
    clause = next(r for r in fast_yaml.safe_load((ROOT / "submission/iec62304.yaml").read_text(encoding="utf-8"))
                  ["iec62304"] if r["id"] == "C62304-4.2")
    for text in (" ".join(gspr["open_points"].split()), " ".join(clause["note"].split())):
        assert "not in effect" in text and "not complete for release" in text
    assert clause["status"] == "partial" and {"SRS-227", "SRS-228"} <= set(clause["evidence"])
    # control: the mini project, complete, gives the opposite conclusion from the same code
    assert _record(_mini(tmp_path / "mini")).complete


def _statement(text: str, verdict: str = "undecided") -> Callable[[dict], None]:
    """The overall residual risk prose ``text`` with its typed verdict (helper-135: criterion 4 reads
    overall_residual_risk_verdict since review 133 defect 2's fix, not the prose; a statement these reviews wrote
    to conclude nothing is typed undecided)."""
    def change(items: dict) -> None:
        items["risk/benefit.yaml"]["benefit_risk"].update(overall_residual_risk=text,
                                                          overall_residual_risk_verdict=verdict)
    return change


def _no_plan(items: dict) -> None:
    del items["risk/plan.yaml"]


def _open_anomaly_on_srs_001(items: dict) -> None:
    items["traceability/anomalies.yaml"]["anomalies"] = [{
        "id": "ANOM-001", "title": "A fake anomaly", "description": "Synthetic.", "evaluation": "Open.",
        "status": "open", "requirements": ["SRS-001"]}]


@pytest.mark.req("SRS-228")
@pytest.mark.parametrize(("case", "change", "drop"), [
    ("complete", None, ()),
    ("no benefit conclusion", _statement("Not yet concluded."), ()),
    ("no risk plan", _no_plan, ()),
    ("no post-production plan", None, (PPP,)),
    ("anomaly on a requirement of no control", _open_anomaly_on_srs_001, ()),
])
def test_h21_the_gate_and_the_record_agree_in_both_modes(tmp_path: Path, case: str,
                                                         change: Callable[[dict], None] | None,
                                                         drop: tuple[str, ...]) -> None:
    from device_ai.regulatory.check import check_graph
    from device_ai.regulatory.risk_review import REVIEW_ID, of_risk_file

    graph = _mini(tmp_path / "p", change, drop=drop)
    record = _record(graph)
    release, development = _release(graph), check_graph(graph, head=HEAD)
    assert [f.section for f in release.findings if f.item == REVIEW_ID] == ([] if record.complete else ["gap"])
    assert [f.section for f in development.findings if f.item == REVIEW_ID] == ([] if record.complete else ["open"])

    class Ctx:
        nodes = {n["id"]: n for n in graph["nodes"]}

    risk_findings = [f for f in release.findings if f.section != "warning" and f.item != REVIEW_ID
                     and of_risk_file(Ctx, f.item)]
    assert record.complete is (not risk_findings and case in ("complete", "anomaly on a requirement of no control"))


@pytest.mark.req("SRS-228")
def test_h22_the_extra_gap_helper_126_admitted_in_reviews_89_to_94_names_only_the_benefit_statement(
        tmp_path: Path) -> None:
    """Reviews 89 (o1), 90, 92, 93 and 94 now accept a RISK-REVIEW gap (matched by its first words) in
    projects made with review 89's _no_overall_conclusion; in such a project the record names the
    benefit-risk statement and nothing else, and without it the record is complete (the control).
    Review 89's d1 (no plan): the record names only RISK-PLAN."""
    from tests.review.test_review_89 import _no_overall_conclusion

    record = _record(_mini(tmp_path / "no-conclusion", _no_overall_conclusion))
    assert [i.item for i in record.open_items()] == ["BENEFIT-RISK"]
    assert [c.number for c in record.question("b").criteria if not c.holds] == [4]
    def comment_only(root: Path) -> None:  # review 89 d1's empty plan: the file exists, so DOC-RMF holds
        (root / "risk" / "plan.yaml").write_text("# the plan is to follow\n", encoding="utf-8")

    assert {i.item for i in _record(_mini(tmp_path / "no-plan", after=comment_only)).open_items()} == {"RISK-PLAN"}
    assert _record(_mini(tmp_path / "control")).complete


@pytest.mark.req("SRS-228", "SRS-043")
def test_h23_review_89_o1_still_passes_the_release_gate_when_the_statement_concludes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """helper-126 changed o1's last step from 'passes --release' (exit 0) to 'fails with only
    RISK-REVIEW'; the same scenario with a concluding statement still passes, as o1's reviewer meant."""
    from device_ai.cli import main
    from tests.review.test_review_89 import _cli, _commit, _git_project, _situations

    def change(items: dict) -> None:
        _situations(items)[0]["residual"]["p1"] = "P2"

    root, head = _git_project(tmp_path, change)
    write_results(root, passing_results(), commit=head)
    code, out = _cli(capsys, root, "--release")
    assert code == 13 and any(x.startswith("GAP RISK-001") for x in out), out  # control: unacceptable committed
    path = root / "risk" / "hazardous_situations.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("p1: P2", "p1: P1"), encoding="utf-8")
    assert main(["trace", "review", "RISK-001", "--by", "Some One", "--independent", "--root", str(root)]) == 0
    new_head = _commit(root)
    write_results(root, passing_results(), commit=new_head)
    code, out = _cli(capsys, root, "--release")
    assert code == 0 and not [x for x in out if x.startswith("GAP")], out
    assert subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout == ""


# --- defect 2: criterion 4 takes a statement that says no conclusion was made for one ---

NOT_CONCLUDING = ["Whether the overall residual risk is acceptable has not been decided.",
                  "The overall residual risk has not yet been shown to be acceptable.",
                  "Undecided whether acceptable."]


@pytest.mark.req("SRS-228")
def test_d2_pin_statements_that_conclude_nothing_no_longer_complete_the_record(tmp_path: Path) -> None:
    """Pin of defect 2, inverted by the lead's fix (criterion 4 needs the verdict 'Acceptable' as the
    statement's first word, read as a conclusion)."""
    for index, text in enumerate(NOT_CONCLUDING):
        graph = _mini(tmp_path / f"s{index}", _statement(text))
        record = _record(graph)
        assert not record.complete and not record.question("b").criteria[3].holds, text
        assert not _release(graph).passed, text
    # control: a statement that says it concludes nothing, without the word, fails criterion 4 and the gate
    graph = _mini(tmp_path / "control", _statement("Not yet concluded."))
    assert not _record(graph).question("b").criteria[3].holds and not _release(graph).passed


@pytest.mark.req("SRS-228")
def test_d2_a_statement_that_concludes_nothing_leaves_the_record_not_complete(tmp_path: Path) -> None:
    for index, text in enumerate(NOT_CONCLUDING):
        assert not _record(_mini(tmp_path / f"s{index}", _statement(text))).complete, text
