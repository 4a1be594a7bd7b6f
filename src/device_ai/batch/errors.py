"""The batch layer's typed errors (children of the device's hierarchy, codes of their own).

A unit's failure is recorded in the job ledger with its code and the job goes on; a job's own
failure (another job's ledger under OUT, a scheduler that cannot be reached or is not
secured, a second coordinator) refuses the command before any unit runs."""

from __future__ import annotations

from device_ai.errors import ConfigError, OutputError


class JobMismatch(ConfigError):
    """OUT already holds the ledger of a job with other inputs, options or secret."""

    code = "DAI-120"


class SchedulerUnreachable(ConfigError):
    """``--scheduler`` names no Dask scheduler that answers, or the local cluster did not start."""

    code = "DAI-121"


class WorkerSecretMismatch(ConfigError):
    """A worker's de-identification secret is not the coordinator's: its pseudonyms would differ."""

    code = "DAI-122"


class JobLocked(ConfigError):
    """Another coordinator holds the job (its lock file under OUT)."""

    code = "DAI-123"


class SchedulerNotSecured(ConfigError):
    """``--scheduler`` names a scheduler the device would reach without mutual TLS (not ``tls://``), or
    the device's TLS credentials for it are not configured or not usable (SRS-220)."""

    code = "DAI-124"


class UnitMismatch(OutputError):
    """A worker's output for a unit is not the one study folder the unit names."""

    code = "DAI-520"


class WorkerLost(OutputError):
    """The worker process running a unit was lost as many times as allowed; nothing of it was published."""

    code = "DAI-521"


class PublishedOutputAltered(OutputError):
    """A unit the ledger records as published is missing from OUT or its digest changed."""

    code = "DAI-522"
