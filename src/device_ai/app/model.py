"""Loading and verifying the locked model package, audited (SRS-029, SRS-030)."""

from __future__ import annotations

from pathlib import Path

from device_ai.app.context import Context
from device_ai.audit.entry import MODEL_REFUSED, MODEL_VERIFIED, AuditObject, Outcome
from device_ai.app.audited import audited, describe, error_code
from device_ai.errors import AuditError


def trusted_keys(ctx: Context) -> dict:
    from device_ai.model.package import signing

    keys = [signing.public_key_from_b64(text) for text in ctx.settings.trusted_model_keys]
    return {signing.key_id(key): key for key in keys}


def model_path(ctx: Context, path: Path | None) -> Path:
    return Path(path) if path else ctx.settings.model_path


def checked_model_path(ctx: Context, path: Path | None) -> Path:
    """The package folder, after checking that it can be looked at: a name or path too long for
    the system is refused as the package is (DAI-300, as a missing one), not an internal error."""
    from device_ai.app.preconditions import check_input_path
    from device_ai.errors import ModelIntegrityError

    folder = model_path(ctx, path)
    check_input_path(folder, "model package", error=ModelIntegrityError)
    return folder


def load_engine(ctx: Context, log, path: Path | None = None, threads: int | None = None,  # noqa: ANN001, ANN201
                action=None, *, patient_data: bool = True):  # noqa: ANN001 - AuditedAction of a standalone verification
    """The locked engine of the package at ``path`` (default: the configured model); its
    verification, and any refusal with its error code, is an audit entry.

    ``patient_data``: the engine will run on inputs that may come from patients (analyze,
    explain, the node, analyze --batch); a package that is not for clinical use is then refused
    (:func:`check_clinical_use`). Verification and the validation study on the device's own
    phantoms pass False."""
    from device_ai.inference.engine import EngineOptions, LockedEngine

    try:
        engine = LockedEngine.load(checked_model_path(ctx, path), trusted_keys=trusted_keys(ctx),
                                   options=EngineOptions(threads=threads or ctx.settings.inference_threads,
                                                         device=ctx.settings.inference_device))
        if patient_data:
            check_clinical_use(ctx, engine.manifest)
    except AuditError:
        raise
    except Exception as exc:  # an interruption is not a refusal: the enclosing action records it
        if action is not None:  # a standalone verification: its action records the refusal
            raise
        try:
            log.append(MODEL_REFUSED, outcome=Outcome.SERIOUS_FAILURE, action="R", details={"error": error_code(exc)})
        except AuditError as audit_error:
            raise AuditError(f"{audit_error.message}; the model had been refused: {describe(exc)}",
                             hint=audit_error.hint) from exc
        raise
    package = engine.package
    details = {"signer": package.signer_key_id, "pinned_release": str(package.pinned_release),
               "execution_provider": engine.execution_provider}
    if patient_data and not engine.manifest.clinical_use:
        details["demonstration_mode"] = "true"  # the only way such a package runs here (check_clinical_use)
    if action is not None:
        action.objects = (model_object(engine),)
        action.succeeded(details)
    else:
        log.append(MODEL_VERIFIED, action="R", objects=(model_object(engine),), details=details)
    return engine


def check_clinical_use(ctx: Context, manifest) -> None:  # noqa: ANN001 - ModelManifest
    """RC-035: a package whose manifest says it is not for clinical use (the demonstration
    model, trained on synthetic phantoms) runs on what may be patient data only when the site
    has switched demonstration mode on; the labelling alone does not keep it off patients."""
    from device_ai.errors import NotForClinicalUse

    if not manifest.clinical_use and not ctx.settings.demonstration_mode:
        raise NotForClinicalUse(
            f"model package {manifest.identity} is not for clinical use (a demonstration model with no clinical "
            "validation): refused for analysis",
            hint="on synthetic data only, set demonstration_mode: true (DEVICE_AI_DEMONSTRATION_MODE=1); never where "
                 "patient data are analysed. `device-ai demo` runs it on a synthetic study without that setting; "
                 "`device-ai validate` and `model verify` need no setting")


def model_object(engine) -> AuditObject:  # noqa: ANN001
    return AuditObject(kind="model", id=engine.package.manifest_sha256, role=engine.manifest.identity)


def verify_model(ctx: Context, path: Path | None = None):  # noqa: ANN201 - VerifiedPackage
    """``model verify``: every byte and the signature, audited; returns the verified package.
    Its own action: an interrupted verification is recorded as a failed one."""
    with ctx.open_audit_log() as log, audited(log, MODEL_VERIFIED, "R", refused_event=MODEL_REFUSED) as action:
        return load_engine(ctx, log, path, threads=1, action=action, patient_data=False).package


def model_info(ctx: Context, path: Path | None = None):  # noqa: ANN201 - VerifiedPackage
    """The verified package for display (read-only, not an audited action)."""
    from device_ai.model.package.verify import verify_package

    return verify_package(checked_model_path(ctx, path), trusted_keys(ctx))


def create_signing_key(out: Path) -> tuple[str, str]:
    """Write a new Ed25519 model-signing key (PEM, mode 0600) to ``out``, never over an existing
    file; returns (key id, base64 public key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device_ai.atomic_io import atomic_write_bytes
    from device_ai.errors import OutputError
    from device_ai.model.package import signing

    from device_ai.app import preconditions

    out = Path(out)
    preconditions.check_output_file(out, "--out")  # first: a name too long is refused, not an OSError
    if out.exists() or out.is_symlink():
        raise OutputError(f"{out} exists; refusing to overwrite a signing key", hint="choose another path")
    key = Ed25519PrivateKey.generate()
    atomic_write_bytes(out, signing.private_key_pem(key))
    out.chmod(0o600)
    return signing.key_id(key.public_key()), signing.public_key_to_b64(key.public_key())
