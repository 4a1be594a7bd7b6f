"""Fuzz harness for the device's untrusted-input paths (issue 22 item 5; SRS-111).

Verification code, not part of the product (it is not under ``src/`` and is never installed):

- :mod:`fuzz.mutants`: a seeded, reproducible mutant generator. Mutant ``(seed, id)`` is always
  the same folder of files, built from synthetic phantom series and from pydicom's own test
  files read from disk (never downloaded);
- :mod:`fuzz.runner`: runs mutants through ``device-ai analyze`` and ``device-ai anonymize``
  (the CLI's own entry point, in a process forked per input from a warm worker) and records,
  per input, the exit code, a traceback on stderr, the error code line, wall time and peak RSS;
- ``make fuzz`` (``FUZZ_N``, ``FUZZ_SEED``, ``FUZZ_JOBS``) runs thousands; the test
  ``tests/fuzz/test_fuzz_sample.py`` runs a fixed sample every CI run.

    python -m fuzz.mutants --seed 0 --id 17 /tmp/m17          # build one mutant folder
    python -m fuzz.runner --n 5000 --seed 0 --jobs 2          # the campaign (make fuzz)
"""
