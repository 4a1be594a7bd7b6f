"""The lock file of the exact runtime closure (issue 19 item 2, SRS-199): the committed runtime.lock
matches the installed environment, and every kind of difference fails the check."""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from device_ai.cli import main
from device_ai.errors import TraceabilityError
from device_ai.regulatory import lock

REPO = Path(__file__).resolve().parents[2]
LOCKED = REPO / "runtime.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure() -> dict[str, str]:
    """Written independently of the module under test: requires('device-ai') without extras, then theirs."""
    found: dict[str, str] = {}
    queue = list(metadata.requires("device-ai") or [])
    while queue:
        requirement = Requirement(queue.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _norm(requirement.name)
        if name not in found:
            found[name] = metadata.version(requirement.name)
            queue.extend(metadata.requires(requirement.name) or [])
    return found


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9.-]+)==(\S+)", text, re.MULTILINE))


@pytest.mark.req("SRS-199")
def test_the_committed_lock_pins_exactly_the_installed_runtime_closure() -> None:
    text = LOCKED.read_text(encoding="utf-8")
    assert pins(text) == runtime_closure()  # every runtime distribution at its installed version, nothing else
    assert f"# python: {platform.python_version()}\n" in text
    assert lock.check(LOCKED) == []
    assert main(["report", "lock", "--check", str(LOCKED)]) == 0


@pytest.mark.req("SRS-199")
@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: re.sub(r"\nnumpy==\S+", "\nnumpy==0.0.1", t), "numpy: locked 0.0.1, installed "
     + metadata.version("numpy")),
    (lambda t: re.sub(r"(\nscipy==\S+  # installed-files sha256=)[0-9a-f]{64}", r"\g<1>" + "0" * 64, t),
     "scipy " + metadata.version("scipy") + ": installed files differ from the locked digest"),
    (lambda t: re.sub(r"\npydicom==[^\n]*", "", t), "pydicom: installed " + metadata.version("pydicom")
     + ", not in the lock file"),
    (lambda t: t + "left-pad==1.0  # installed-files sha256=none\n", "left-pad: locked 1.0, not in the installed "
     "runtime closure"),
    (lambda t: t.replace("# python: ", "# python: 2.7.", 1), "python: locked 2.7."),
])
def test_each_difference_from_the_installed_environment_fails(tmp_path: Path, edit, expected: str) -> None:  # noqa: ANN001
    changed = tmp_path / "runtime.lock"
    changed.write_text(edit(LOCKED.read_text(encoding="utf-8")), encoding="utf-8")
    found = lock.check(changed)
    assert len(found) == 1 and found[0].startswith(expected), found
    assert main(["report", "lock", "--check", str(changed)]) != 0  # the CLI exits non-zero


@pytest.mark.req("SRS-199")
def test_the_written_lock_equals_the_committed_one(tmp_path: Path) -> None:
    out = tmp_path / "runtime.lock"
    assert main(["report", "lock", "--out", str(out)]) == 0
    assert out.read_bytes() == LOCKED.read_bytes()


@pytest.mark.req("SRS-199")
def test_a_malformed_lock_is_refused_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "runtime.lock"
    bad.write_text("# python: 3.11.7\nnumpy>=2\n", encoding="utf-8")
    with pytest.raises(TraceabilityError) as caught:
        lock.check(bad)
    assert caught.value.problems == (f"{bad}:2: not a pin of the form name==version  # installed-files sha256=HEX",)
