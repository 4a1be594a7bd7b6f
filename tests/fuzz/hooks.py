"""Negative controls for the fuzz harness: faults injected into the device's reader in the fuzz
worker (``--inject tests.fuzz.hooks:install``), one per mutant id named in the environment, so the
test can show the harness reports each of them."""

from __future__ import annotations

import os
import time


_BALLAST: list[bytes] = []


def install() -> None:
    import device_ai.dicom.deidentify.run as deid_run
    import device_ai.dicom.series as series

    faults = {os.environ.get(f"FUZZ_FAULT_{name.upper()}"): name for name in ("crash", "memory", "hang")}

    def faulty_version(original):  # noqa: ANN001, ANN202
        def faulty(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            fault = faults.get(os.environ.get("FUZZ_MUTANT_ID"))
            if fault == "crash":
                raise RuntimeError("injected fault: a plain exception from the reader")
            if fault == "memory":
                _BALLAST.append(b"\x01" * (1100 * 1024 * 1024))  # touched, so resident
                _BALLAST.clear()
            if fault == "hang":
                time.sleep(3600)
            return original(path, *args, **kwargs)
        return faulty

    import device_ai.app as app

    original_anonymize = app.anonymize

    def crashing_anonymize(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # anonymize isolates per-file failures (a file that fails is quarantined, exit 3), so its
        # crash is injected around the whole action, outside that isolation
        if faults.get(os.environ.get("FUZZ_MUTANT_ID")) == "crash":
            raise RuntimeError("injected fault: a plain exception in the anonymize action")
        return original_anonymize(*args, **kwargs)

    series.read_file_bytes = faulty_version(series.read_file_bytes)  # analyze reads a series' files with it
    deid_run.read_dataset = faulty_version(deid_run.read_dataset)
    app.anonymize = crashing_anonymize
