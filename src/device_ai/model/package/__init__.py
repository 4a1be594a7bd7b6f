"""The locked model package: manifest, digests, Ed25519 signature, verification (torch-free)."""

from device_ai.model.package.manifest import ModelManifest
from device_ai.model.package.verify import VerifiedPackage, verify_package

__all__ = ["ModelManifest", "VerifiedPackage", "verify_package"]
