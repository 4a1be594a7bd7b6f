"""The node's analysis records its published files by digest (SRS-222, threat THR-015): the
worker runs the device's audited analyze, so its result folder and the copy a folder destination
receives (SEG and SR only) pass `audit verify-results`, and an altered copy fails it. Model: the
tiny signed test package; the node in process, driven by the test (tests/node/test_worker_state.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai.app.result_check import verify_results
from device_ai.node.outbound import Outbound
from device_ai.node.server import NodeServer
from device_ai.node.worker import Worker, key_of
from tests.node.conftest import context, handed_off, node_env, series_slices, spool
from tests.node.pipeline_peers import tiny_model  # noqa: F401

DELIVERED = ["segmentation.dcm", "measurements.dcm"]


@pytest.fixture
def folder_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A receiving node with a folder destination and no worker threads: the test drives them."""
    share = tmp_path / "share"
    share.mkdir()
    node_env(monkeypatch, node_destinations=json.dumps([{"name": "share", "kind": "folder", "path": str(share)}]))
    server = NodeServer(context())
    server.port = server.start()[1]
    yield server, share
    server.stop()


@pytest.mark.req("SRS-222")
def test_the_nodes_result_and_its_delivered_copy_pass_the_check_and_an_altered_copy_fails(
        folder_node, tiny_model) -> None:  # noqa: ANN001
    node, share = folder_node
    [ready] = handed_off(node, series_slices(series="digests", count=2, rows=256))
    outbound = Outbound(spool(), context().settings, node.trail)
    assert Worker(context(), spool(), outbound, node.trail).process(ready)
    result = spool() / "work" / key_of(ready) / "result"
    check = verify_results(result)
    assert check.ok and check.entry.event == "Analysis Run"
    assert sorted(check.entry.files) == sorted(p.name for p in result.iterdir())
    assert set(DELIVERED) <= set(check.entry.files)

    assert outbound.send_due() == len(DELIVERED)
    [copy] = {path.parent for path in share.rglob("*.dcm")}
    assert verify_results(copy, only=DELIVERED).ok
    assert not verify_results(copy).ok  # control: the copy lacks the summary and previews
    seg = copy / "segmentation.dcm"
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0x01
    seg.chmod(0o600)
    seg.write_bytes(bytes(data))
    altered = verify_results(copy, only=DELIVERED)
    assert not altered.ok
    assert [(s.name, s.state) for s in altered.states if s.state != "unchanged"] == [("segmentation.dcm", "altered")]
