"""8 concurrent associations of 50 instances each into `device-ai serve` (issue 15 Done-when:
"nothing lost, nothing duplicated").

`device-ai serve` runs as a child process (receiver, assembly, worker and outbound queue; the
tiny signed test model, tests/package_factory.py); dcmtk ``storescp`` is the destination. At
the same moment 4 dcmtk ``storescu`` processes (an independent peer) and 4 pynetdicom
associations (threads of this process) each send 50 synthetic CT instances, 400 in all, in 6
series. Two series are split across associations as PACS do: one between a storescu process
and a pynetdicom association (halves), one between two pynetdicom associations (every other
slice, interleaved). Then, for every instance that got a Success status:

- it is in the spool exactly once, byte for byte as sent, and nothing else is there;
- the audit trail holds exactly one receive record for it (by keyed pseudonym);
- each series became ready once, holding its instances, and was analysed exactly once;
- each series' SEG and SR reached storescp exactly once (storescp writes a repeated
  instance to a second file), under the UIDs derived for that generation, with no duplicate
  SOP Instance UID among the results, and the SEG references exactly the series' instances.

The same :func:`exactly_once` check decides each of these; a negative control shows that it
reports a dropped, a duplicated and an unexpected entry, on doctored copies of this run's own
observations and on a doctored copy of the spool itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pydicom
import pytest

from conftest import require_tool
from tests.dicom.synthetic import write
from tests.node.conftest import (NODE_AET, SCU_AET, TIMEOUT, associate, audit_entries, context, dataset_bytes,
                                 events, series_slices, spool, wait_for, wire_bytes)
from tests.node.pipeline_peers import (by_modality, destinations, referenced_sources, storescp,  # noqa: F401
                                       tiny_model)
from tests.node.test_serve_pipeline import settled

pytestmark = pytest.mark.dicom_tools
ROWS = 256  # the smallest the input contract accepts (the worker applies it)
PER_ASSOCIATION = 50
IDLE_S = 4.0  # longer than any pause between two instances of one series while the 8 associations run


def exactly_once(expected: Iterable[str], found: Iterable[str]) -> list[str]:
    """What is wrong with ``found`` (one item per copy seen) against ``expected`` (each item
    that must be there once): lost, duplicated and unexpected items; empty when each expected
    item is found exactly once and nothing else is."""
    counts, wanted = Counter(found), set(expected)
    problems = [f"lost: {item}" for item in sorted(wanted - counts.keys())]
    problems += [f"duplicated {count} times: {item}" for item, count in sorted(counts.items()) if count > 1]
    problems += [f"unexpected: {item}" for item in sorted(counts.keys() - wanted)]
    return problems


def spool_instances(root: Path) -> list[tuple[str, Path]]:
    """(SOP Instance UID, file) of every instance file anywhere in the spool's series and tmp
    folders (open, staging and handed-off generations alike)."""
    found = []
    for path in sorted([*(root / "series").rglob("*.dcm"), *(root / "tmp").rglob("*")]):
        if path.is_file():
            uid = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID
            found.append((str(uid), path))
    return found


def peak_overlap(trail: list[dict]) -> int:
    """The most associations receiving at once, from the trail's order: an association spans
    from its acceptance to its last receive record (both name the peer's address and port)."""
    opened: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, entry in enumerate(trail):
        meaning, peer = entry["event"]["meaning"], entry["details"].get("peer")
        if meaning == "DICOM Association" and entry["details"]["result"] == "accepted":
            opened[peer] = index
        elif meaning == "DICOM Instances Transferred" and entry["action"] == "C":
            last[peer] = index
    spans = [(opened[peer], end) for peer, end in last.items()]
    return max((sum(1 for a, b in spans if a <= start <= b) for start, _ in spans), default=0)


def _plan() -> tuple[list[tuple[str, list]], dict[str, list]]:
    """8 associations of 50 instances, 6 series (2 split across associations), and the series."""
    series = {name: series_slices(series=f"concurrent-{name}", count=count, rows=ROWS)
              for name, count in (("a", 50), ("b", 50), ("c", 50), ("d", 100), ("e", 100), ("f", 50))}
    d, e = series["d"], series["e"]
    plan = [("storescu", series["a"]), ("storescu", series["b"]), ("storescu", series["c"]),
            ("storescu", d[:50]),                      # series d: first half by dcmtk ...
            ("pynetdicom", d[50:][::-1]),              # ... second half by pynetdicom, from the far end
            ("pynetdicom", e[0::2]), ("pynetdicom", e[1::2]),  # series e: interleaved over two
            ("pynetdicom", series["f"])]
    assert all(len(sent) == PER_ASSOCIATION for _, sent in plan)
    return plan, series


def _storescu(port: int, files: list[Path], log: Path) -> subprocess.Popen:
    with open(log, "wb") as sink:  # -v: one "Received Store Response (Success)" line per acknowledged instance
        return subprocess.Popen([require_tool("storescu"), "-v", "-aet", SCU_AET, "-aec", NODE_AET, "-to", "60",
                                 "127.0.0.1", str(port), *map(str, files)], stdout=sink, stderr=subprocess.STDOUT)


def _pynetdicom(port: int, datasets: list, statuses: dict[str, int], start: threading.Barrier) -> threading.Thread:
    def run() -> None:
        assoc = associate(port)
        start.wait(timeout=TIMEOUT)
        assert assoc.is_established, "association not established"
        try:
            for ds in datasets:
                response = assoc.send_c_store(ds)
                statuses[ds.SOPInstanceUID] = int(response.Status) if response else -1
        finally:
            assoc.release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.req("SRS-133", "SRS-095", "SRS-093", "SRS-098", "SRS-124", "SRS-125")
def test_eight_concurrent_associations_lose_nothing_and_duplicate_nothing(serve_process, storescp, tiny_model,
                                                                          tmp_path: Path) -> None:  # noqa: ANN001
    from device_ai.dicom.uids import derived_uid
    from device_ai.node.spool import ready_markers
    from device_ai.node.worker import generation_state, key_of, uid_seed
    from device_ai.pseudonyms import pseudonym

    scp = storescp()
    node = serve_process(node_series_idle_s=IDLE_S, node_destinations=destinations(scp.destination()),
                         node_max_associations=10)
    plan, series = _plan()
    statuses: dict[str, int] = {}  # pynetdicom: SOP Instance UID -> status
    storescus: list[tuple[subprocess.Popen, Path, list]] = []
    threads, start = [], threading.Barrier(sum(1 for kind, _ in plan if kind == "pynetdicom"))
    files = {}
    for number, (kind, datasets) in enumerate(plan):
        if kind == "storescu":
            folder = tmp_path / f"send-{number}"
            folder.mkdir()
            files[number] = [write(ds, folder / f"{i:03d}.dcm") for i, ds in enumerate(datasets)]
    for number, (kind, datasets) in enumerate(plan):  # all 8 at once
        if kind == "storescu":
            log = tmp_path / f"storescu-{number}.log"
            storescus.append((_storescu(node.port, files[number], log), log, datasets))
        else:
            threads.append(_pynetdicom(node.port, datasets, statuses, start))
    acknowledged: set[str] = set()
    for process, log, datasets in storescus:
        assert process.wait(timeout=120) == 0, f"storescu exited {process.returncode}: {log.read_text()[-2000:]}"
        text = log.read_text(errors="replace")
        successes = len(re.findall(r"Received Store Response \(Success\)", text))
        assert successes == PER_ASSOCIATION, f"{log.name}: {successes} of {PER_ASSOCIATION} acknowledged\n{text[-2000:]}"
        acknowledged |= {ds.SOPInstanceUID for ds in datasets}
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a pynetdicom association did not finish"
    assert set(statuses.values()) == {0}, Counter(statuses.values())
    acknowledged |= set(statuses)
    sent = {ds.SOPInstanceUID: ds for slices in series.values() for ds in slices}
    assert acknowledged == set(sent) and len(sent) == 8 * PER_ASSOCIATION, "every instance got Success"

    def quiet() -> bool:  # read in this process (cheap); the CLI's status once at the end
        from device_ai.node.status import node_status

        now = node_status(context())
        g = now["generations"]
        return g["done"] + g["refused"] == len(series) and not (now["received_open"] + g["ready"] + g["analyzing"]
                                                                 + sum(q["pending"] for q in now["outbound"].values()))

    wait_for(quiet, timeout=240, step=0.25)
    status = settled(node.env)
    assert status is not None, "the node's status is not settled"
    node.stop()
    root = spool()

    # 1. the spool: each acknowledged instance exactly once, as sent; nothing else
    stored = spool_instances(root)
    assert exactly_once(acknowledged, [uid for uid, _ in stored]) == []
    assert all(dataset_bytes(path) == wire_bytes(sent[uid]) for uid, path in stored)
    assert not any((root / "series").glob("*/open"))

    # 2. the audit trail: one receive record (Success) per acknowledged instance, 8 associations
    receives = [e for e in events("DICOM Instances Transferred") if e["action"] == "C"]
    assert all(e["outcome"] == 0 and e["details"]["status"] == "0x0000" for e in receives)
    received = [o["id"] for e in receives for o in e["objects"] if o["kind"] == "instance"]
    assert exactly_once({pseudonym("instance", uid) for uid in acknowledged}, received) == []
    accepted = [e for e in events("DICOM Association") if e["details"]["result"] == "accepted"]
    assert len(accepted) == 8
    overlap = peak_overlap(audit_entries())
    print(f"peak overlap: {overlap} associations receiving at once")
    assert overlap >= 4  # the 4 pynetdicom ones start together (barrier); storescu processes join them

    # 3. each series ready once (one generation, holding its instances) and analysed exactly once
    names = {pseudonym("series", slices[0].SeriesInstanceUID): slices for slices in series.values()}
    markers = ready_markers(root)
    assert exactly_once(names, [r.series for r in markers]) == []
    for ready in markers:
        assert ready.generation == 1 and generation_state(root, key_of(ready)) == "done"
        assert sorted(ready.instances) == sorted(pseudonym("instance", ds.SOPInstanceUID) + ".dcm"
                                                 for ds in names[ready.series])
    runs = [e for e in events("Analysis Run") if e["outcome"] == 0]
    analysed = [o["id"] for e in runs for o in e["objects"] if o["kind"] == "series"]
    assert exactly_once(names, analysed) == []
    assert status["generations"]["done"] == 6 and status["generations"]["refused"] == 0

    # 4. each result delivered exactly once, under its generation's UIDs, no duplicate UID
    expected = {derived_uid(uid_seed(r), role): r for r in markers for role in ("seg-instance", "sr-instance")}
    results = scp.received()
    assert len(scp.files()) == len(results)  # every file storescp wrote was readable
    assert exactly_once(expected, [ds.SOPInstanceUID for ds in results]) == []
    assert len(expected) == 12 and not set(expected) & acknowledged
    for seg in by_modality(results, "SEG"):
        ready = expected[seg.SOPInstanceUID]
        assert referenced_sources(seg) == {ds.SOPInstanceUID for ds in names[ready.series]}
    assert status["outbound"]["scp"] == {"pending": 0, "sent": 12, "dead": 0, "configured": True}

    # negative control: the same checks report a loss and a duplicate in a doctored spool copy
    doctored = tmp_path / "doctored-spool"
    shutil.copytree(root / "series", doctored / "series")
    (doctored / "tmp").mkdir()
    copies = sorted((doctored / "series").rglob("*.dcm"))
    dropped = pydicom.dcmread(copies[0], stop_before_pixels=True).SOPInstanceUID
    twice = pydicom.dcmread(copies[-1], stop_before_pixels=True).SOPInstanceUID
    copies[0].unlink()
    shutil.copyfile(copies[-1], copies[-1].with_name("copy-" + copies[-1].name))
    assert exactly_once(acknowledged, [uid for uid, _ in spool_instances(doctored)]) == [
        f"lost: {dropped}", f"duplicated 2 times: {twice}"]


@pytest.mark.req("SRS-133")
def test_exactly_once_reports_each_lost_duplicated_or_unexpected_item() -> None:
    """Negative control of the check above, on doctored lists: it must not pass a loss or a duplicate."""
    expected = [f"2.25.{n}" for n in range(400)]
    assert exactly_once(expected, list(reversed(expected))) == []
    assert exactly_once(expected, expected[1:]) == ["lost: 2.25.0"]
    assert exactly_once(expected, [*expected, "2.25.7"]) == ["duplicated 2 times: 2.25.7"]
    assert exactly_once(expected, [*expected, "2.25.400"]) == ["unexpected: 2.25.400"]
    assert exactly_once(expected, [*expected[1:], expected[1]]) == ["lost: 2.25.0", "duplicated 2 times: 2.25.1"]
    assert exactly_once(expected, []) == [f"lost: {item}" for item in sorted(expected)]
