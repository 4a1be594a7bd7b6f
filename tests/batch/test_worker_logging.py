"""A local cluster's worker processes print on the operator's stderr: the heartbeat a worker loses
when the scheduler closes at the end of a job must not print a traceback (CI saw one after a
batch run whose units had all been reported); other worker errors still print."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Logs, inside a worker process, what Dask's Worker.heartbeat logs when its scheduler's stream is
# closed (distributed/worker.py: ``except OSError: logger.exception(...)``), then an unrelated error.
_SCRIPT = textwrap.dedent('''
    import logging, sys

    def log_like_a_worker():
        from distributed.comm.core import CommClosedError
        log = logging.getLogger("distributed.worker")
        try:
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")
        except OSError:
            log.exception("Failed to communicate with scheduler during heartbeat.")
        try:
            raise ValueError("a fake disk fault")
        except ValueError:
            log.exception("Some other worker error")
        return True

    if __name__ == "__main__":
        if sys.argv[1] == "engine":
            from device_ai.batch.engines import DaskEngine
            engine = DaskEngine(workers=1)
            client = engine.client
        else:  # the control: the same cluster without the device's worker plugin
            from dask.distributed import Client, LocalCluster
            engine = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None)
            client = Client(engine)
        assert all(client.run(log_like_a_worker).values())
        engine.close()
''')


def _stderr_of(kind: str, tmp_path) -> str:  # noqa: ANN001
    script = tmp_path / "worker_logs.py"
    script.write_text(_SCRIPT)
    done = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.req("SRS-163")
@pytest.mark.req("SRS-164")
def test_a_worker_losing_its_scheduler_prints_no_traceback(tmp_path) -> None:  # noqa: ANN001
    stderr = _stderr_of("engine", tmp_path)
    assert "heartbeat" not in stderr and "CommClosedError" not in stderr, stderr
    # only the heartbeat line is dropped: another worker error is still shown
    assert "Some other worker error" in stderr and "a fake disk fault" in stderr, stderr


@pytest.mark.req("SRS-163")
@pytest.mark.req("SRS-164")
def test_control_without_the_plugin_the_heartbeat_traceback_prints(tmp_path) -> None:  # noqa: ANN001
    stderr = _stderr_of("bare", tmp_path)
    assert "Failed to communicate with scheduler during heartbeat." in stderr and "Traceback" in stderr, stderr
