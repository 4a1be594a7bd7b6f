"""Archive-scale jobs on Dask (issue 17): units, the job ledger, engines, the coordinator.

A job is a list of units (one study each, :mod:`.units`) found under one input folder. Worker
processes (:mod:`.engines`: in this process, a ``dask.distributed.LocalCluster``, or an existing
Dask scheduler) run the existing pipeline on each unit into a private attempt folder
(:mod:`.unit_work`); the coordinator (:mod:`.anonymize_job`) is the only writer of the ledger
(:mod:`.ledger`, SQLite under OUT) and of the audit log, publishes each unit with one rename
(:mod:`.publish`) and merges the report (:mod:`.report`). No torch here (import-linter).
"""

from device_ai.batch.anonymize_job import BatchAnonymizeRequest, JobResult, anonymize_batch

__all__ = ["BatchAnonymizeRequest", "JobResult", "anonymize_batch"]
