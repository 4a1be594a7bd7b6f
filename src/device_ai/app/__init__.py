"""The application layer: each audited action of the device, implemented once.

Front ends (the command line today, the DICOM node and the batch layer next) call these
functions and only parse and print. Every action here follows the same rules:

- its preconditions (output location, labels, model, optional dependencies) are checked
  before any slice is read or inferred;
- the outcome recorded in the audit trail is the outcome returned or raised, failures with
  their error code (:mod:`device_ai.app.audited`);
- its outputs become visible only after their audit entry is durable.
"""

from device_ai.app.analysis import AnalysisRequest, analyze, demo
from device_ai.app.context import Context
from device_ai.app.deidentification import AnonymizeRequest, anonymize, read_crosswalk
from device_ai.app.explanation import ExplainRequest, explain
from device_ai.app.model import load_engine, model_info, verify_model
from device_ai.app.validation import validate

__all__ = [
    "AnalysisRequest", "AnonymizeRequest", "Context", "ExplainRequest", "analyze", "anonymize", "demo", "explain",
    "load_engine", "model_info", "read_crosswalk", "validate", "verify_model",
]
