"""The runtime components the SBOM lists beyond the Python distributions: the interpreter and the
native libraries the runtime wheels ship (FDA 524B: every commercial, open-source and
off-the-shelf component; reference/audit_security.md 4.1).

Each version is read, never guessed:

- **CPython**: ``platform.python_version()``; the OpenSSL and zlib it links come from the host
  operating system (the platform, not shipped by the device) and are recorded as properties.
- **Libraries vendored by auditwheel** (``<dist>.libs/lib<name>-<hash>.so[.<so version>]`` in a
  runtime distribution's ``RECORD``): the release version where the library reports it through
  its Python binding (:data:`PROBES`: numpy's and SciPy's build configuration for OpenBLAS,
  ``PIL.features`` for Pillow's codecs); otherwise the shared-object version of the file name,
  labelled as such (an ABI version, not necessarily the release).
- **Libraries inside a package**: ONNX Runtime's ``libonnxruntime.so`` (the version the native
  library reports), and the OpenSSL that ``cryptography`` links statically into its Rust extension
  (``openssl_version_text()``).

Copies of one library (name and version) shipped by several wheels are one component with every
file listed. A library whose version cannot be read is listed with ``version`` None, never a
made-up one (the gate then reports it).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

#: ``numpy.libs/libscipy_openblas64_-32a4b2a6.so``, ``pillow.libs/libjpeg-6dc8d115.so.62.4.0``
_VENDORED = re.compile(r"^[^/]+\.libs/(?P<stem>lib[A-Za-z0-9_+]+?)(?:-[0-9a-f]{8})+\.so(?:\.(?P<so>[0-9.]+))?$")


@dataclass(frozen=True)
class NativeFile:
    distribution: str
    path: str
    sha256: str | None  # from the distribution's RECORD (urlsafe base64 there; hex here)


@dataclass(frozen=True)
class ExtraComponent:
    """A runtime component that is not a Python distribution."""

    name: str
    version: str | None
    type: str  # CycloneDX component type: "platform" or "library"
    version_source: str
    supplier: str | None = None
    cpe: str | None = None
    files: tuple[NativeFile, ...] = field(default=())
    properties: tuple[tuple[str, str], ...] = field(default=())

    @property
    def bom_ref(self) -> str:
        return f"pkg:generic/{self.name}@{self.version or 'unknown'}"


def _pil(feature: str) -> Callable[[str], str | None]:
    def probe(_dist: str) -> str | None:
        from PIL import features  # Pillow is a runtime dependency; imported only to read versions

        return features.version(feature)

    return probe


def _openblas(dist: str) -> str | None:
    module = {"numpy": "numpy", "scipy": "scipy"}.get(dist)
    if module is None:
        return None
    config = __import__(f"{module}.__config__", fromlist=["CONFIG"]).CONFIG
    return str(config["Build Dependencies"]["blas"]["version"])


#: auditwheel stem -> (product name, probe of the release version or None: the so version is used)
PROBES: dict[str, tuple[str, Callable[[str], str | None] | None]] = {
    "libscipy_openblas64_": ("openblas", _openblas),
    "libscipy_openblas": ("openblas", _openblas),
    "libjpeg": ("libjpeg-turbo", _pil("libjpeg_turbo")),
    "libopenjp2": ("openjpeg", _pil("jpg_2000")),
    "libtiff": ("libtiff", _pil("libtiff")),
    "libwebp": ("libwebp", _pil("webp")),
    "libwebpdemux": ("libwebp", _pil("webp")),
    "libwebpmux": ("libwebp", _pil("webp")),
    "libsharpyuv": ("libwebp", _pil("webp")),  # part of the libwebp project
    "libfreetype": ("freetype", _pil("freetype2")),
    "liblcms2": ("little-cms", _pil("littlecms2")),
    "libavif": ("libavif", _pil("avif")),
    "libharfbuzz": ("harfbuzz", _pil("harfbuzz")),
    "libpng16": ("libpng", None),
    "libzstd": ("zstd", None),
    "liblzma": ("xz", None),  # liblzma is XZ Utils' library
    "libbrotlicommon": ("brotli", None),
    "libbrotlidec": ("brotli", None),
    "libXau": ("libxau", None),
    "libxcb": ("libxcb", None),
    "libgfortran": ("libgfortran", None),
    "libquadmath": ("libquadmath", None),
}
SO_VERSION = "shared-object version in the file name (an ABI version, not necessarily the release version)"


def _hex(record_hash: str | None) -> str | None:
    """RECORD's ``sha256=<urlsafe base64>`` as hex."""
    if not record_hash or not record_hash.startswith("sha256="):
        return None
    import base64

    raw = record_hash.removeprefix("sha256=")
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).hex()


def _files(dist: metadata.Distribution) -> list[tuple[str, str | None]]:
    return [(str(f), _hex(f.hash.mode + "=" + f.hash.value) if f.hash else None) for f in dist.files or []]


def _safe(probe: Callable[[str], str | None], dist: str) -> str | None:
    try:
        value = probe(dist)
    except Exception:  # noqa: BLE001 - a library that cannot report its version is listed without one
        return None
    return str(value) if value else None


def _vendored(distributions: Iterable[str]) -> dict[tuple[str, str | None], dict[str, Any]]:
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for dist_name in sorted(distributions):
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        for path, sha in _files(dist):
            match = _VENDORED.match(path)
            if not match:
                continue
            stem, so_version = match.group("stem"), match.group("so")
            name, probe = PROBES.get(stem, (stem, None))
            if probe is not None:
                version, source = _safe(probe, dist_name), _probe_source(stem)
            else:
                version, source = so_version, SO_VERSION
            entry = found.setdefault((name, version), {"source": source, "files": []})
            entry["files"].append(NativeFile(dist_name, path, sha))
    return found


def _probe_source(stem: str) -> str:
    if "openblas" in stem:
        return "the wheel's build configuration (numpy/scipy __config__ CONFIG Build Dependencies blas version)"
    return "PIL.features.version() (reported by Pillow for the library it was built with)"


def _in_package(distributions: set[str]) -> list[ExtraComponent]:
    found = []
    if "onnxruntime" in distributions:
        files = [(p, s) for p, s in _files(metadata.distribution("onnxruntime"))
                 if re.fullmatch(r"onnxruntime/capi/libonnxruntime\.so(\.[0-9.]+)?", p)]

        def ort_version(_dist: str) -> str | None:
            from onnxruntime.capi import _pybind_state

            return str(_pybind_state.get_version_string())

        def ort_build(_dist: str) -> str | None:
            from onnxruntime.capi import _pybind_state

            return str(_pybind_state.get_build_info())

        build = _safe(ort_build, "onnxruntime")
        found.append(ExtraComponent(
            name="libonnxruntime", version=_safe(ort_version, "onnxruntime"), type="library",
            version_source="onnxruntime.capi._pybind_state.get_version_string() (reported by the native library)",
            supplier="Microsoft Corporation", files=tuple(NativeFile("onnxruntime", p, s) for p, s in files),
            properties=(("device-ai:native:build_info", build),) if build else ()))
    if "cryptography" in distributions:
        def openssl(_dist: str) -> str | None:
            from cryptography.hazmat.backends.openssl.backend import backend

            match = re.match(r"OpenSSL (\S+)", backend.openssl_version_text())
            return match.group(1) if match else None

        files = [(p, s) for p, s in _files(metadata.distribution("cryptography"))
                 if p.endswith("hazmat/bindings/_rust.abi3.so")]
        found.append(ExtraComponent(
            name="openssl", version=_safe(openssl, "cryptography"), type="library",
            version_source="cryptography.hazmat.backends.openssl.backend.openssl_version_text() (the OpenSSL "
                           "statically linked into cryptography's Rust extension)",
            supplier="OpenSSL Software Foundation", files=tuple(NativeFile("cryptography", p, s) for p, s in files),
            properties=(("device-ai:native:linkage", "statically linked into cryptography/hazmat/bindings/"
                         "_rust.abi3.so"),)))
    return found


def cpython() -> ExtraComponent:
    """The running interpreter. Its ``ssl`` and ``zlib`` link libraries of the host operating
    system (not shipped by the device): recorded as properties, not as components."""
    import ssl
    import zlib

    version = platform.python_version()
    build = " ".join(platform.python_build())
    return ExtraComponent(
        name="cpython", version=version, type="platform", version_source="platform.python_version()",
        supplier="Python Software Foundation",
        # the CPE NVD records CPython vulnerabilities under, so that scanners can match them
        cpe=f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*",
        properties=(("device-ai:cpython:implementation", platform.python_implementation()),
                    ("device-ai:cpython:build", build), ("device-ai:cpython:compiler", platform.python_compiler()),
                    ("device-ai:host_library:openssl", f"{ssl.OPENSSL_VERSION} (linked by the ssl module from the "
                     "host operating system; not shipped by the device)"),
                    ("device-ai:host_library:zlib", f"{zlib.ZLIB_RUNTIME_VERSION} (linked by the zlib module from "
                     "the host operating system; not shipped by the device)")))


def extra_components(runtime_distributions: Iterable[str]) -> list[ExtraComponent]:
    """CPython and the native libraries of the given (normalized) runtime distributions, sorted."""
    names = set(runtime_distributions)
    found = [cpython(), *_in_package(names)]
    for (name, version), entry in _vendored(names).items():
        found.append(ExtraComponent(name=name, version=version, type="library", version_source=entry["source"],
                                    files=tuple(sorted(entry["files"], key=lambda f: (f.distribution, f.path)))))
    return sorted(found, key=lambda c: (c.name, c.version or ""))


def installed_closure(names: Iterable[str]) -> dict[str, str] | None:
    """``{normalized name: installed version}`` of ``names`` and everything they require (no
    extras, markers evaluated here); None when one of them is not installed."""
    from device_ai.regulatory import sbom

    found: dict[str, str] = {}
    queue = sorted(set(names))
    while queue:
        name = queue.pop(0)
        if name in found:
            continue
        dist = sbom._distribution(name)
        if dist is None:
            return None
        found[name] = dist.version
        queue.extend(r for r in sbom._requirements(dist, ()) if r not in found)
    return found


def installed_runtime_components(runtime: Iterable[str] | None) -> list[dict[str, Any]] | None:
    """The runtime components of the installed closure of the ``runtime`` requirements (the ones
    the SOUP rule checks, from pyproject.toml or the installed metadata): Python distributions,
    CPython, native libraries. None when they are unknown or not installed (the gate reports that)."""
    if runtime is None:
        return None
    versions = installed_closure(runtime)
    if versions is None:
        return None
    rows = [{"name": name, "version": version, "type": "library"} for name, version in versions.items()]
    rows += [{"name": c.name, "version": c.version, "type": c.type} for c in extra_components(versions)]
    return sorted(rows, key=lambda r: (r["name"], r["version"] or ""))


def properties(component: ExtraComponent) -> list[tuple[str, str]]:
    """The SBOM properties of an extra component: how its version was read, and its files."""
    props = [("device-ai:version_source", component.version_source), *component.properties]
    props += [("device-ai:native:file", f"{f.distribution}: {f.path}" + (f" sha256={f.sha256}" if f.sha256 else ""))
              for f in component.files]
    return props


def as_mapping(component: ExtraComponent) -> Mapping[str, Any]:
    return {"name": component.name, "version": component.version, "type": component.type}
