"""Independent approval check 130 (helper-130) at HEAD e72aa8c: the lead's approvals of 0bfb677 and b7815f5.

helper-130 wrote none of these requirements, their code or their earlier reviews. Status is fingerprinted
(SoftwareRequirement.FINGERPRINT_FIELDS: title, text, status, category; respecifications when present; the
rationale is not), so an approved item needs an independent record at its approved content.

Status-only (SRS-209, 210, 211, 212, 213, 215, 216, 218, 225): the current item with its status put back to
draft, in memory, fingerprints exactly as its latest independent record (reviews 115, 116, 120, 128); the rest of
the change is rationale sentences, not fingerprinted. Recorded as they are.

Text edit (SRS-217, b7815f5): with status draft and the text before b7815f5 the item fingerprints as review 120's
record, so the text is the only other change. The new text ("also when the node runs the analysis"; the copies
handed to a folder destination or to watch's OUT keep the umask's modes, THR-018) holds: the node's worker runs
app.analysis.analyze with ctx.result_access() (node/worker.py:226-231, app/analysis.py:101), so node/work/K/result
is 0700/0600 (0750/0640 with results_group_readable); outbound.write_to_folder and watch's OUT (a folder
destination, hot_folder.py:157) write Access.PUBLIC (outbound.py:279-282): 0755/0644 under umask 022. Measured
with a scratch probe through watch (umask 022, both settings; not kept: it runs the node, ~9 s) and the tests
carrying SRS-217 (tests/test_local_threat_controls.py, tests/review/test_review_120.py,
verification/test_explain_outputs.py: 36 passed). Recorded.

Each test below: the current content's fingerprint equals helper-130's independent record (and the pinned value),
and the same item with one word of its text changed does not (the check can fail).

helper-137, 2026-12-07 (fixer of review 134 T7, not re-reviewed): SRS-217's text now covers the node's copies in a
folder destination and watch's OUT (they get the results' modes) and the item is draft again, so helper-130's record
no longer matches it. The SRS-217 test checks that record against the item as it was approved (b7815f5's text and
status, read from git at c2effc8) and that the current item differs from it by the helper-137 change.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from device_ai.regulatory.fingerprint import fingerprint
from device_ai.regulatory.loader import load_project
from tests import fast_yaml

ROOT = Path(__file__).resolve().parents[2]
REVIEWER = "helper-130 (independent approval check 130)"

#: The fingerprint helper-130 recorded per item (approved content), and the latest independent record before it,
#: which the item with status draft must equal (status-only change).
RECORDED = {
    "SRS-209": ("558d015c3aa56132fdece62eee19c91a6cd24b8313b8758a864ee6b8b92ae3ee", "f812849e88c0"),
    "SRS-210": ("10f1e521cc5272e2cecac4a1419a2356747be3915de625058283db4b8a0b54db", "0348e92d59d7"),
    "SRS-211": ("da1b54c6a1feb54067ea7b2295005e23fdc82f7c76b565c264934907e37868f9", "f31a22f58c54"),
    "SRS-212": ("5fc579ef277fd07ca39fb6f1e56735dd5a82df04757380ebdd83ab30d39bcaf9", "dc1da82ee614"),
    "SRS-213": ("200fa8576419160cdd169cef1c588e8df6cb28077f62dc6ad7affc85063c4c76", "93afb3b4793e"),
    "SRS-215": ("054612585b11d4ece5d1ccd1732763e83b8a9b09d9fe337dedca0aaa84d32066", "04d72011890e"),
    "SRS-216": ("9d2cf6d56c06a3c412e1a8cd29e956891e430f6fd6c676b8a5b58cf488e29f87", "8e34bf9edcd3"),
    "SRS-217": ("dafa62ff851385a6500fed4fe978a26a3ac83757ae276d645b8e193d896d5f27", "f64178c7b327"),
    "SRS-218": ("c8e3f76f5444c6bf25f93e7a543486f2ce5a442389dad761a5a7b240bf812eb7", "e520dbe798ce"),
    "SRS-225": ("6529fd9d314b33b41b96531b412f84396e7ced124751d2045daa3a2bbea424df", "1877e3c4127b"),
}
STATUS_ONLY = [item_id for item_id in RECORDED if item_id != "SRS-217"]


@pytest.fixture(scope="module")
def project():  # noqa: ANN201 - device_ai.regulatory.loader.Project
    return load_project(ROOT)


def _mine(project, item_id: str):  # noqa: ANN001, ANN202 - the Review helper-130 wrote
    [record] = [r.item for r in project.reviews if r.item.id == item_id and r.item.by == REVIEWER]
    return record


def _earlier_independent(project, item_id: str):  # noqa: ANN001, ANN202
    return [r.item for r in project.reviews
            if r.item.id == item_id and r.item.independent and r.item.by != REVIEWER][-1]


def _one_word_changed(item):  # noqa: ANN001, ANN202
    words = item.text.split(" ")
    words[1] = words[1] + "x"
    return item.model_copy(update={"text": " ".join(words)})


def _check(project, item_id: str) -> None:  # noqa: ANN001
    item = project.items[item_id].item
    record = _mine(project, item_id)
    assert record.independent is True
    assert item.status == "approved"
    assert fingerprint(item) == record.fingerprint == RECORDED[item_id][0]
    assert fingerprint(_one_word_changed(item)) != record.fingerprint  # control: a text change is seen


def _params(ids: list[str]) -> list:
    return [pytest.param(item_id, marks=pytest.mark.req(item_id), id=item_id) for item_id in ids]


@pytest.mark.parametrize("item_id", _params(STATUS_ONLY))
def test_status_only_approval_recorded_at_the_approved_content(project, item_id: str) -> None:  # noqa: ANN001
    _check(project, item_id)
    item = project.items[item_id].item
    earlier = _earlier_independent(project, item_id)
    assert earlier.fingerprint.startswith(RECORDED[item_id][1])
    assert fingerprint(item.model_copy(update={"status": "draft"})) == earlier.fingerprint  # only the status moved
    # control: put back to draft with one word changed, it no longer matches the earlier independent record
    assert fingerprint(_one_word_changed(item).model_copy(update={"status": "draft"})) != earlier.fingerprint


def _approved_217(project):  # noqa: ANN001, ANN202 - SRS-217 as helper-130 recorded it (before helper-137's change)
    at = fast_yaml.safe_load(subprocess.run(["git", "show", "c2effc8:traceability/requirements.yaml"], cwd=ROOT,
                                       check=True, capture_output=True, text=True).stdout)
    [approved] = [r for r in at["software_requirements"] if r["id"] == "SRS-217"]
    return project.items["SRS-217"].item.model_copy(update={"text": approved["text"], "status": approved["status"]})


@pytest.mark.req("SRS-217")
def test_srs_217_text_edit_recorded_at_the_approved_content(project) -> None:  # noqa: ANN001
    item = _approved_217(project)
    record = _mine(project, "SRS-217")
    assert record.independent is True and item.status == "approved"
    assert fingerprint(item) == record.fingerprint == RECORDED["SRS-217"][0]
    assert fingerprint(_one_word_changed(item)) != record.fingerprint  # control: a text change is seen
    current = project.items["SRS-217"].item  # helper-137's change: the record no longer covers the item
    # (helper-137 set it to draft; the lead approved it again subject to re-review 143, 107b505, which held)
    assert current.status in ("draft", "approved") and fingerprint(current) != record.fingerprint
    assert "OUT folder of watch (the folders it creates there" in " ".join(current.text.split())
    before = fast_yaml.safe_load(subprocess.run(["git", "show", "b7815f5^:traceability/requirements.yaml"], cwd=ROOT,
                                           check=True, capture_output=True, text=True).stdout)
    [old] = [r for r in before["software_requirements"] if r["id"] == "SRS-217"]
    # review 120's record (later independent records, e.g. re-review 143's of helper-137's change, come after it)
    earlier = [r.item for r in project.reviews if r.item.id == "SRS-217" and r.item.independent
               and r.item.by.startswith("helper-120")][-1]
    # status and text are the only fingerprinted changes since review 120 ...
    assert fingerprint(item.model_copy(update={"status": "draft", "text": old["text"]})) == earlier.fingerprint
    # ... and the text did change (control: without the old text it does not match review 120's record)
    assert fingerprint(item.model_copy(update={"status": "draft"})) != earlier.fingerprint
    assert "also when the node runs the analysis" in item.text and "OUT folder of watch are not covered" in item.text
