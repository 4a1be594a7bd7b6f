"""``device-ai review sign``: signed approvals of the submission package's documents (issue 19 item 3).

The work is in :mod:`device_ai.regulatory.package_signing` and :mod:`device_ai.regulatory.approvals`;
this module parses and prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def trusted_path(args: argparse.Namespace) -> Path:
    """``--trusted``, else the repository's trusted signers under ``--root``."""
    from device_ai.regulatory.approvals import DEFAULT_TRUSTED

    return Path(args.trusted) if args.trusted else Path(args.root) / DEFAULT_TRUSTED


def cmd_review_sign(args: argparse.Namespace) -> int:
    from device_ai.regulatory import approvals
    from device_ai.regulatory.package_signing import sign_document
    from device_ai.regulatory.records import utc_now

    trusted = approvals.load_trusted(trusted_path(args))
    key = approvals.load_signing_key(Path(args.key), Path(args.passphrase_file) if args.passphrase_file else None)
    outcome = sign_document(Path(args.package), args.document, role=args.role, name=args.name, key=key,
                            date=utc_now(), trusted=trusted, chromium=args.chromium)
    s = outcome.signature
    counted = "valid" if outcome.status == approvals.VALID else f"NOT COUNTED: {outcome.status}"
    print(f"signed {outcome.file} ({s.document}, revision {s.revision}, SHA-256 {s.sha256}) as {s.role} by {s.name} "
          f"on {s.date}: {counted}")
    print(f"  key id {s.key_id}, public key {approvals.public_key_b64(key.public_key())}")
    missing = f" (missing: {', '.join(outcome.missing_roles)})" if outcome.missing_roles else ""
    print(f"{s.document}: {outcome.state}{missing}")
    return 0


def register(add: Callable[..., Any]) -> None:
    """Add ``review sign`` with the CLI's ``add(name, func, help, parent)``."""
    from device_ai.regulatory.approvals import DEFAULT_TRUSTED, ROLES

    review = add("review", None, "signed approvals of the submission package's documents")
    sub = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    sign = add("sign", cmd_review_sign, "sign a document of a submission package (Ed25519 over its signed SHA-256 "
               "with role, name, date, ID and revision), or seal the package by signing DAI-DOC-MANIFEST", sub)
    sign.add_argument("document", metavar="DOC-ID", help="document ID, e.g. DAI-DOC-SRS; DAI-DOC-MANIFEST seals the "
                      "package (sign the documents first)")
    sign.add_argument("--role", required=True, choices=list(ROLES), help="; ".join(ROLES.values()))
    sign.add_argument("--name", required=True, help="the signer's printed name (must be the key holder's name in the "
                      "trusted signers for the signature to count)")
    sign.add_argument("--key", required=True, help="the signer's Ed25519 private key (PEM, owner-only)")
    sign.add_argument("--passphrase-file", help="owner-only file holding the key's passphrase (encrypted keys)")
    sign.add_argument("--package", required=True, help="the package folder written by device-ai report package")
    sign.add_argument("--trusted", help=f"trusted signers YAML (default: ROOT/{DEFAULT_TRUSTED}); decides what the "
                      "pages show as counted")
    sign.add_argument("--root", default=".", help="repository root (default: .)")
    sign.add_argument("--chromium", help="Chromium binary to print the changed pages again, for a package with PDFs")
