"""The worker's on-disk states across crashes, in process (issue 15 item 3): result UIDs derived
from (series, generation), a generation analysed again after its state was lost gives the same
UIDs, a late instance's generation new ones; a crash between the result and its queue entries
queues each result once; an input killed mid-analysis too often is refused. Model: the tiny
signed test package (tests/package_factory.py)."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from device_ai.node import worker as worker_module
from device_ai.node.outbound import Outbound
from device_ai.node.server import NodeServer
from device_ai.node.spool import ready_markers
from device_ai.node.worker import Worker, key_of
from tests.node.conftest import context, events, handed_off, node_env, pixel_variant, series_slices, spool
from tests.node.pipeline_peers import tiny_model  # noqa: F401

ROWS = 256


@pytest.fixture
def ready_node(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A receiving node without worker threads: the test drives assembly and the worker."""
    node_env(monkeypatch, node_destinations=json.dumps([{"name": "scp", "kind": "dimse", "ae_title": "X",
                                                         "host": "127.0.0.1", "port": 9}]))
    server = NodeServer(context())
    server.port = server.start()[1]
    yield server
    server.stop()


def _worker(node) -> Worker:  # noqa: ANN001
    return Worker(context(), spool(), Outbound(spool(), context().settings, node.trail), node.trail)


def _seg_uid(ready) -> str:  # noqa: ANN001
    return str(pydicom.dcmread(spool() / "work" / key_of(ready) / "result" / "segmentation.dcm").SOPInstanceUID)


@pytest.mark.req("SRS-124", "SRS-129")
@pytest.mark.parametrize("uids", ["derived", "random (negative control)"])
def test_a_generation_analysed_again_gets_the_same_uids_and_a_late_one_new_ones(ready_node, tiny_model, monkeypatch,
                                                                                uids) -> None:  # noqa: ANN001
    if uids != "derived":
        import uuid

        monkeypatch.setattr(worker_module, "uid_seed", lambda ready: uuid.uuid4().hex)
    slices = series_slices(series="state-uids", count=2, rows=ROWS)
    [first] = handed_off(ready_node, slices)
    worker = _worker(ready_node)
    assert worker.process(first)
    before = _seg_uid(first)
    shutil.rmtree(spool() / "work" / key_of(first))  # its state lost: analysed again from scratch
    for entry in (spool() / "outbound" / "pending" / "scp").glob("*.json"):
        entry.unlink()
    assert worker.process(first)
    again = _seg_uid(first)
    [second] = handed_off(ready_node, [pixel_variant(slices[0])])  # a late, corrected instance: generation 2
    assert second.generation == 2 and worker.process(second)
    if uids == "derived":
        assert again == before and _seg_uid(second) != before
    else:
        assert again != before  # what the derived UIDs prevent: two different results for one generation


@pytest.mark.req("SRS-129")
def test_a_crash_between_the_result_and_its_queue_entries_queues_each_result_once(ready_node, tiny_model,
                                                                                  monkeypatch) -> None:  # noqa: ANN001
    [ready] = handed_off(ready_node, series_slices(series="state-queue", count=2, rows=ROWS))
    real = Outbound.enqueue

    def crash(self, key, **kwargs) -> int:  # noqa: ANN001, ANN003 - killed after the first entry
        real(self, key, **{**kwargs, "files": kwargs["files"][:1]})
        raise KeyboardInterrupt

    monkeypatch.setattr(Outbound, "enqueue", crash)
    with pytest.raises(KeyboardInterrupt):
        _worker(ready_node).process(ready)
    assert not (spool() / "work" / key_of(ready) / "done.json").exists()
    monkeypatch.setattr(Outbound, "enqueue", real)
    worker = _worker(ready_node)
    assert worker.run_once() == [key_of(ready)] and worker.run_once() == []
    pending = sorted(p.name for p in (spool() / "outbound" / "pending" / "scp").glob("*.json"))
    assert pending == [f"{key_of(ready)}.seg.json", f"{key_of(ready)}.sr.json"]
    assert len([e for e in events("Analysis Run") if e["outcome"] == 0]) == 1  # the result was not made again


@pytest.mark.req("SRS-129", "SRS-130")
def test_a_generation_whose_analysis_was_interrupted_too_often_is_refused(ready_node, tiny_model,
                                                                          monkeypatch) -> None:  # noqa: ANN001
    [ready] = handed_off(ready_node, series_slices(series="state-poison", count=2, rows=ROWS))
    worker = _worker(ready_node)

    def killed(self, ready, out) -> None:  # noqa: ANN001 - the process ends during the analysis
        raise SystemExit(137)

    monkeypatch.setattr(Worker, "analyze", killed)
    for _ in range(context().settings.node_analysis_max_attempts):
        with pytest.raises(SystemExit):
            worker.process(ready)
    assert worker.process(ready)
    refused = json.loads((spool() / "refused" / f"{key_of(ready)}.json").read_text())
    assert refused["code"] == "DAI-999" and "interrupted" in refused["message"]
    assert [e["details"]["error"] for e in events("Series Refused")] == ["DAI-999"]
    assert not list((spool() / "outbound" / "pending" / "scp").glob("*.json"))
    assert ready_markers(spool())


@pytest.mark.dicom_tools
@pytest.mark.req("SRS-151")
def test_a_late_generation_says_which_result_it_replaces_and_a_first_one_replaces_none(ready_node, tiny_model,
                                                                                       monkeypatch,
                                                                                       dciodvfy) -> None:  # noqa: ANN001
    from conftest import dciodvfy_errors
    from device_ai.errors import InputRefused

    slices = series_slices(series="state-lineage", count=2, rows=ROWS)
    [first] = handed_off(ready_node, slices)
    worker = _worker(ready_node)
    assert worker.process(first)
    result = spool() / "work" / key_of(first) / "result"
    seg1, sr1 = pydicom.dcmread(result / "segmentation.dcm"), pydicom.dcmread(result / "measurements.dcm")
    assert "replaces" not in seg1.SeriesDescription and "PredecessorDocumentsSequence" not in sr1  # nothing before
    [second] = handed_off(ready_node, [pixel_variant(slices[0])])  # a late, corrected instance
    real_analyze = Worker.analyze

    def refused(self, ready, out) -> None:  # noqa: ANN001 - generation 2 refused: no result to replace
        raise InputRefused("refused for the test")

    monkeypatch.setattr(Worker, "analyze", refused)
    assert worker.process(second)
    monkeypatch.setattr(Worker, "analyze", real_analyze)
    [third] = handed_off(ready_node, [pixel_variant(slices[1])])
    assert third.generation == 3 and worker.process(third)
    result = spool() / "work" / key_of(third) / "result"
    seg3, sr3 = pydicom.dcmread(result / "segmentation.dcm"), pydicom.dcmread(result / "measurements.dcm")
    assert seg3.SeriesDescription.endswith(" #3 replaces #1") and sr3.SeriesDescription.endswith(" #3 replaces #1")
    [study] = sr3.PredecessorDocumentsSequence
    [series] = study.ReferencedSeriesSequence
    [document] = series.ReferencedSOPSequence
    assert study.StudyInstanceUID == sr1.StudyInstanceUID and series.SeriesInstanceUID == sr1.SeriesInstanceUID
    assert (document.ReferencedSOPClassUID, document.ReferencedSOPInstanceUID) == (sr1.SOPClassUID, sr1.SOPInstanceUID)
    assert seg3.SOPInstanceUID != seg1.SOPInstanceUID and sr3.SOPInstanceUID != sr1.SOPInstanceUID
    assert dciodvfy_errors(dciodvfy, result / "measurements.dcm") == []
    assert dciodvfy_errors(dciodvfy, result / "segmentation.dcm") == []
