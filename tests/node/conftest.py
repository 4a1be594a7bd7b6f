"""Real peers for the DICOM node's tests: the node in this process (NodeServer) or as a
`device-ai serve` child process, pynetdicom as SCU, dcmtk storescu/echoscu. Everything on
127.0.0.1, high free ports, bounded timeouts; child processes are stopped by their PID.
Synthetic CT only (tests/dicom/synthetic.py: PHANTOM^TEST, 2.25 UIDs)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from tests.dicom.synthetic import ct_slice, phantom_hu

SCU_AET = "TESTSCU"
NODE_AET = "DEVICEAI"
ROWS = 64  # the node does not apply the input contract (the worker does): small slices keep tests fast
VERIFICATION = "1.2.840.10008.1.1"
TIMEOUT = 20.0
# SIGTERM lets an analysis in progress finish (the worker waits up to 60 s, associations and the
# assembler 10 s each): a graceful stop may take that long on a loaded CI machine.
STOP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def series_slices(series: str = "series-1", count: int = 3, rows: int = ROWS) -> list[Dataset]:
    hu = phantom_hu(count, rows)
    return [ct_slice(i, hu, series=series) for i in range(count)]


def node_env(monkeypatch: pytest.MonkeyPatch, **settings: object) -> dict[str, str]:
    """Set the node's settings in the environment (the device's configuration mechanism)."""
    values = {"node_port": free_port(), "node_allowed_calling_aets": SCU_AET, "node_min_free_mb": 0,
              "node_series_idle_s": 30, **settings}
    env = {f"DEVICE_AI_{k.upper()}": str(v) for k, v in values.items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def context():  # noqa: ANN201 - device_ai.app.Context
    from device_ai.app.context import Context
    from device_ai.config import load_settings

    return Context(settings=load_settings())


def home() -> Path:
    return Path(os.environ["DEVICE_AI_HOME"])


def spool() -> Path:
    return home() / "node"


def associate(port: int, *, calling: str = SCU_AET, called: str = NODE_AET, contexts=None, tls_args=None):  # noqa: ANN001, ANN201
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    for context in contexts or [(VERIFICATION, None), ("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.1"])]:
        if context[1] is None:
            ae.add_requested_context(context[0])
        else:
            ae.add_requested_context(*context)
    return ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls_args)


def store_all(port: int, datasets: list[Dataset], **kwargs: object) -> list[int]:
    """Send ``datasets`` over one association; the status of each."""
    assoc = associate(port, **kwargs)
    assert assoc.is_established, "association not established"
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def audit_entries() -> list[dict]:
    from device_ai.app import audit_trail

    return audit_trail.entries(None, audit_trail.EntryFilter())[1]


def events(meaning: str) -> list[dict]:
    return [e for e in audit_entries() if e["event"]["meaning"] == meaning]


def markers() -> list[dict]:
    ready = spool() / "ready"
    return [json.loads(p.read_text()) for p in sorted(ready.glob("*.json"))] if ready.is_dir() else []


def wait_for(predicate, timeout: float = TIMEOUT, step: float = 0.05):  # noqa: ANN001, ANN201
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def handed_off(node, slices) -> list:  # noqa: ANN001 - NodeServer; returns the generations made ready
    """Store ``slices`` on an in-process node, then hand their series off as if it went idle."""
    assert store_all(node.port, slices) == [0] * len(slices)
    [(_, last, _)] = node.spool.open_series()
    return node.assemble_once(now=last + node.idle_s)


def dataset_bytes(path: Path) -> bytes:
    """The data set of a Part 10 file without its preamble and file meta (what went over the wire)."""
    import pydicom

    with open(path, "rb") as handle:
        pydicom.filereader.read_preamble(handle, False)
        pydicom.filereader._read_file_meta_info(handle)
        return handle.read()


def wire_bytes(ds: Dataset) -> bytes:
    from pydicom.filewriter import write_dataset
    from pydicom.filebase import DicomBytesIO

    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A started in-process node (series idle 30 s: tests drive assembly with assemble_once);
    ``node.port``."""
    yield from _node(monkeypatch)


def _node(monkeypatch: pytest.MonkeyPatch, **settings: object) -> Iterator:
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, **settings)
    server = NodeServer(context())
    server.port = server.start()[1]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_node(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``make_node(**settings)``: a started in-process node with those settings."""
    started = []

    def make(**settings: object):  # noqa: ANN202
        generator = _node(monkeypatch, **settings)
        server = next(generator)
        started.append(generator)
        return server

    yield make
    for generator in reversed(started):
        next(generator, None)


class ServeProcess:
    """`device-ai serve` as a child process (its own DEVICE_AI_HOME from the test's environment);
    with ``arguments`` and ``ready``, another long-running command (`device-ai watch IN OUT`)."""

    def __init__(self, env: dict[str, str], output: Path, arguments: tuple[str, ...] = ("serve",),
                 ready: str = "listening on") -> None:
        # PYTHONFAULTHANDLER: a stop that overruns STOP_TIMEOUT is ended with SIGABRT, which makes the
        # child write every thread's stack to its output first (stop() prints it: what held the stop)
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
        self.port = int(env["DEVICE_AI_NODE_PORT"])
        self.output = output  # stdout and stderr go to a file: a full pipe would block the server
        self.arguments = arguments
        self.ready = ready  # the line the command prints once it works
        self.process: subprocess.Popen | None = None

    def start(self) -> ServeProcess:
        with open(self.output, "wb") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", "device_ai.cli", *self.arguments], env=self.env,
                                            stdout=sink, stderr=subprocess.STDOUT)

        def listening() -> bool:  # the line printed once the port is open
            assert self.process.poll() is None, f"{self.arguments[0]} exited: {self.output.read_text()}"
            return self.ready in self.output.read_text()

        wait_for(listening, timeout=60)
        return self

    def kill(self) -> None:
        """SIGKILL by PID: no clean-up, no final checkpoint."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self) -> int:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._dump_stacks_and_kill()
        return self.process.returncode if self.process is not None else 0

    def _dump_stacks_and_kill(self) -> None:
        """SIGABRT (the child's fault handler writes each thread's stack), the stacks printed for
        the test report, then SIGKILL if the child is still there."""
        os.kill(self.process.pid, signal.SIGABRT)
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=TIMEOUT)
        print(f"{self.arguments[0]} did not stop within {STOP_TIMEOUT:g} s of SIGTERM; its output ends:\n"
              + self.output.read_text(errors="replace")[-20000:])


@pytest.fixture
def serve_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator:
    """``serve_process(**settings)`` -> a started ServeProcess; every one is stopped at the end."""
    started: list[ServeProcess] = []
    env: dict[str, str] = {}

    def start(**settings: object) -> ServeProcess:
        if not env or settings:
            env.clear()
            env.update(node_env(monkeypatch, **settings))
        process = ServeProcess(env, tmp_path / f"serve-{len(started)}.out").start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def pixel_variant(ds: Dataset) -> Dataset:
    """The same instance (same UIDs) with different pixel values (a corrected re-send)."""
    import io

    import pydicom

    from tests.dicom.synthetic import part10

    changed = pydicom.dcmread(io.BytesIO(part10(ds)))  # a real copy (Dataset.copy() shares elements)
    pixels = np.frombuffer(ds.PixelData, "<i2").copy()
    pixels[:10] += 7
    changed.PixelData = pixels.tobytes()
    return changed
