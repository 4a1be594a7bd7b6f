"""Archive-scale jobs on Dask (issue 17): units, the job ledger, engines, the coordinators.

A job is a list of units (one study each for ``anonymize --batch``, :mod:`.units`; one series
each for ``analyze --batch``) found under one input folder. Worker processes (:mod:`.engines`: in
this process, a ``dask.distributed.LocalCluster``, or an existing Dask scheduler) run the existing
pipeline on each unit into a private attempt folder (:mod:`.unit_work`, :mod:`.analyze_work`);
the coordinator (:mod:`.anonymize_job`, :mod:`.analyze_job`) is the only writer of the ledger
(:mod:`.ledger`, SQLite under OUT, :mod:`.job_root`) and of the audit log, publishes each unit
with one rename (:mod:`.publish`), merges the report (:mod:`.report`) and reports progress
(:mod:`.progress`). ``validate --workers`` runs validation cases the same way
(:mod:`.validation_job`). No torch here (import-linter).
"""

from device_ai.batch.anonymize_job import BatchAnonymizeRequest, JobResult, anonymize_batch

__all__ = ["BatchAnonymizeRequest", "JobResult", "anonymize_batch"]
