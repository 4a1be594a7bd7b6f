"""``device-ai self-check`` (SRS-230; threat THR-046): every file of the installed device software
and of its runtime closure against its distribution's RECORD. A throwaway environment would take
minutes, so the distributions here are fake ones, written as pip writes them (a ``.dist-info``
folder with METADATA and RECORD) into a temporary folder put first on sys.path; one real,
wheel-installed distribution of this environment checks the real RECORD format."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai.errors import InstalledSoftwareAltered

DEVICE = "fake-device-h139"
DEPENDENCY = "fake-dependency-h139"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _distribution(site: Path, name: str, files: dict[str, bytes], *, requires: tuple[str, ...] = (),
                  editable: bool = False) -> None:
    """``name`` 1.0 installed into ``site``: its files, METADATA, RECORD listing each with its hash
    and size, RECORD itself and a .pyc without one (as pip writes them)."""
    info = f"{name.replace('-', '_')}-1.0.dist-info"
    written = dict(files)
    written[f"{info}/METADATA"] = ("Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    if editable:
        written[f"{info}/direct_url.json"] = json.dumps({"url": "file:///src/fake", "dir_info": {"editable": True}}).encode()
    lines = []
    for relative, data in written.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(data)
        lines.append(f"{relative},{_hash(data)},{len(data)}")
    package = name.replace("-", "_")
    lines += [f"{package}/__pycache__/__init__.cpython-311.pyc,,", f"{info}/RECORD,,"]
    (site / info / "RECORD").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A device with one code file and one dependency (itself requiring nothing; an extra and a
    requirement for another interpreter are not part of the closure)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    device, dependency = DEVICE.replace("-", "_"), DEPENDENCY.replace("-", "_")
    _distribution(tmp_path, DEVICE, {f"{device}/__init__.py": b"RESULT = 'as released'\n"},
                  requires=(DEPENDENCY, 'fake-train-extra-h139; extra == "train"',
                            'fake-other-python-h139; python_version < "3.0"'))
    _distribution(tmp_path, DEPENDENCY, {f"{dependency}/__init__.py": b"THRESHOLD = 0.5\n",
                                         f"{dependency}/core.so": bytes(range(256)) * 8})
    return tmp_path


def _check():  # noqa: ANN202 - SelfCheck
    from device_ai.installed_software import check_installed

    return check_installed(DEVICE)


@pytest.mark.req("SRS-230")
def test_an_untouched_installation_verifies(site: Path) -> None:
    from device_ai.installed_software import REQUIREMENT_READER, check_distribution

    check = _check()
    # the extra and the marker left out; the requirement reader (packaging, not in this fake closure) last
    assert [d.name for d in check.distributions] == [DEVICE, DEPENDENCY, REQUIREMENT_READER]
    assert check.ok and check.findings == []
    reader = check_distribution(REQUIREMENT_READER)
    assert check.checked == 2 + 3 + reader.checked  # each code file and METADATA
    assert check.skipped == 4 + reader.skipped  # RECORD and the .pyc of each


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("where", ["device", "dependency"])
def test_an_edited_file_is_reported_by_distribution_and_path(site: Path, where: str) -> None:
    from device_ai.installed_software import ALTERED

    name = DEVICE if where == "device" else DEPENDENCY
    code = site / name.replace("-", "_") / "__init__.py"
    code.write_bytes(code.read_bytes().replace(b"5", b"9").replace(b"as released", b"as changed"))
    check = _check()
    assert not check.ok
    [finding] = check.findings
    assert (finding.distribution, finding.path, finding.state) == (name, f"{name.replace('-', '_')}/__init__.py",
                                                                    ALTERED)
    assert isinstance(check.failure(), InstalledSoftwareAltered) and name in check.failure().message


@pytest.mark.req("SRS-230")
def test_a_removed_file_and_a_removed_dependency_are_reported(site: Path) -> None:
    import shutil

    from device_ai.installed_software import MISSING

    (site / DEPENDENCY.replace("-", "_") / "core.so").unlink()
    [finding] = _check().findings
    assert (finding.path, finding.state) == (f"{DEPENDENCY.replace('-', '_')}/core.so", MISSING)
    for folder in site.glob(f"{DEPENDENCY.replace('-', '_')}*"):
        shutil.rmtree(folder)
    check = _check()
    [dependency] = [d for d in check.distributions if d.name == DEPENDENCY]
    assert not check.ok and dependency.not_verifiable == "required but not installed"


@pytest.mark.req("SRS-230")
def test_a_file_or_folder_other_accounts_can_write_is_reported(site: Path) -> None:
    import os

    from device_ai.installed_software import OPEN, open_to_others

    dependency = DEPENDENCY.replace("-", "_")
    (site / dependency / "core.so").chmod(0o664)  # the group may change it: its hash still matches
    [finding] = _check().findings
    assert (finding.path, finding.state) == (f"{dependency}/core.so", OPEN)
    (site / dependency / "core.so").chmod(0o644)
    (site / dependency).chmod(0o777)  # anyone may replace the files in it
    try:
        [finding] = _check().findings
        assert (finding.distribution, finding.path, finding.state) == (DEPENDENCY, f"{dependency}/", OPEN)
    finally:
        (site / dependency).chmod(0o755)
    assert _check().ok  # control: owner-only again
    assert open_to_others(0o100644, 4242 if os.geteuid() != 4242 else 4243)  # owned by another account
    assert not open_to_others(0o100644, 0) and not open_to_others(0o40755, os.geteuid())


@pytest.mark.req("SRS-230")
def test_an_editable_install_is_not_verifiable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _distribution(tmp_path, DEVICE, {f"{DEVICE.replace('-', '_')}/__init__.py": b"x = 1\n"}, editable=True)
    check = _check()
    device, _reader = check.distributions
    assert check.findings == [] and not check.ok  # its few listed files match, but the source tree is not listed
    assert "editable install from file:///src/fake" in device.not_verifiable
    assert "source tree" in device.not_verifiable


@pytest.mark.req("SRS-230")
def test_a_real_wheel_installed_distribution_verifies_and_a_changed_record_hash_does_not() -> None:
    from importlib import metadata

    from device_ai.installed_software import check_distribution

    real = check_distribution("pyyaml")  # installed from a wheel by pip in this environment
    assert real.ok and real.checked > 10 and real.skipped >= 1

    class Tampered(metadata.PathDistribution):  # control: the same files against one changed RECORD hash
        def read_text(self, filename: str) -> str | None:
            text = super().read_text(filename)
            if filename == "RECORD" and text:
                first, rest = text.split("\n", 1)
                path, digest, size = first.rsplit(",", 2)
                flipped = digest[:-1] + ("A" if digest[-1] != "A" else "B")
                return f"{path},{flipped},{size}\n{rest}"
            return text

    original = metadata.distribution("pyyaml")
    tampered = check_distribution("pyyaml", Tampered(original._path))  # noqa: SLF001 - the dist-info folder
    assert not tampered.ok and len(tampered.findings) == 1


@pytest.mark.req("SRS-230", "SRS-017")
def test_the_command_prints_each_finding_and_exits_non_zero(site: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from device_ai import installed_software
    from device_ai.cli import main

    monkeypatch.setattr(installed_software, "MAIN", DEVICE)
    reader = installed_software.check_distribution(installed_software.REQUIREMENT_READER)
    assert main(["self-check"]) == 0  # control: untouched
    out = capsys.readouterr().out
    assert f"OK: all {5 + reader.checked} file(s) are as installed" in out
    assert f"{4 + reader.skipped} listed without a hash skipped" in out
    assert "RECORD is not signed" in out
    code = site / DEPENDENCY.replace("-", "_") / "__init__.py"
    code.write_bytes(b"THRESHOLD = 0.9\n")
    assert main(["self-check"]) == InstalledSoftwareAltered.exit_code
    captured = capsys.readouterr()
    assert f"altered      {DEPENDENCY} 1.0: {DEPENDENCY.replace('-', '_')}/__init__.py" in captured.out
    assert "OK:" not in captured.out and "error DAI-330" in captured.err and "Traceback" not in captured.err


# --- the check runs before the device's libraries are imported (re-review 160 D2) -------------------------------

_NOT_STANDARD = ("import sys; sys.path.insert(0, sys.argv[1]); from device_ai.cli{module} import main; code = main(['self-check']); "
                 "print('IMPORTED', sorted({{m.split('.')[0] for m in sys.modules}} - set(sys.stdlib_module_names) "
                 "- {{'_distutils_hack', '__main__'}})); sys.exit(code)")


def _run_self_check(site: Path, module: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _NOT_STANDARD.format(module=module), str(site)], capture_output=True,
                          text=True, timeout=120, cwd=site)


def _imported(run: subprocess.CompletedProcess[str]) -> set[str]:
    [line] = [line for line in run.stdout.splitlines() if line.startswith("IMPORTED ")]
    return set(ast.literal_eval(line.removeprefix("IMPORTED ")))


@pytest.mark.req("SRS-230")
def test_self_check_imports_nothing_but_the_requirement_reader_outside_the_standard_library(tmp_path: Path) -> None:
    """pydicom and pyjpegls read their METADATA when imported: imported before the check, a pipe there held it."""
    run = _run_self_check(tmp_path)
    assert run.returncode in (0, InstalledSoftwareAltered.exit_code), run.stderr  # editable here: DAI-330
    assert _imported(run) <= {"device_ai", "packaging"}, run.stdout
    whole = _run_self_check(tmp_path, ".parser")  # control: through the whole parser, the libraries come first
    assert {"pydicom", "jpeg_ls", "numpy", "pydantic"} <= _imported(whole)
    assert whole.returncode == run.returncode and whole.stdout.splitlines()[:-1] == run.stdout.splitlines()[:-1]


@pytest.mark.req("SRS-230")
def test_a_changed_requirement_reader_is_reported_before_it_runs(tmp_path: Path) -> None:
    """A 'packaging' first on sys.path whose code differs from its RECORD: reported, and never imported."""
    marker = tmp_path / "ran"
    _distribution(tmp_path, "packaging", {"packaging/__init__.py": b"x = 1\n", "packaging/requirements.py": b"y = 2\n"})
    (tmp_path / "packaging/requirements.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    run = _run_self_check(tmp_path)
    assert run.returncode == InstalledSoftwareAltered.exit_code and "Traceback" not in run.stderr, run.stderr
    assert "altered      packaging 1.0: packaging/requirements.py" in run.stdout
    assert "stopped" in run.stdout and "packaging, which reads them, is not as installed" in run.stderr
    assert not marker.exists() and "packaging" not in _imported(run)
    # control: the walk itself imports the reader, so without the check first its code would have run
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from device_ai.installed_software import runtime_closure; list(runtime_closure('device-ai'))",
                    str(tmp_path)], capture_output=True, timeout=120, cwd=tmp_path)
    assert marker.exists()


ARGUMENT_SHAPES = [
    ["self-check"], ["--debug", "self-check"], ["self-check", "--debug"], ["--config", "site.yaml", "self-check"],
    ["self-check", "--config=site.yaml"], ["self-check", "--deb"], ["--conf", "x", "self-check"],
    ["--config", "-1", "self-check"], ["--config", "-", "self-check"], ["--config=--debug", "self-check"],
    ["self-check", "--config", "self-check"],
    # the whole parser's: help, version, usage errors, other commands
    ["self-check", "-h"], ["--help"], ["--version"], ["self-check", "extra"], ["--config"], ["--config", "--debug",
    "self-check"], ["self-check", "--config", "--help"], ["analyze", "self-check"], [], ["--", "self-check"],
]


def _whole_parser(argv: list[str]):  # noqa: ANN202 - Namespace | None
    import contextlib
    import io

    from device_ai.cli.parser import build_parser

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return build_parser().parse_args(argv)
    except SystemExit:
        return None


@pytest.mark.req("SRS-230")
@pytest.mark.parametrize("argv", ARGUMENT_SHAPES, ids=" ".join)
def test_self_check_skips_the_parser_exactly_where_the_parser_reads_self_check(argv: list[str]) -> None:
    """The oracle is the whole parser: the fast path takes a command line when, and only when, the parser reads it
    as self-check, with the same options (re-reviews 161 D3, 162 D2)."""
    from device_ai.cli import _self_check_only

    whole, fast = _whole_parser(argv), _self_check_only(argv)
    if whole is None or whole.command != "self-check":
        assert fast is None
    else:
        assert fast is not None and (fast.debug, fast.config) == (whole.debug, whole.config)


@pytest.mark.req("SRS-230")
def test_a_packaging_that_import_would_take_from_elsewhere_stops_the_walk(tmp_path: Path) -> None:
    """A packaging folder without a .dist-info first on the path (the working directory under python -m) would
    run instead of the checked distribution (re-review 161 note)."""
    marker = tmp_path / "ran"
    (tmp_path / "packaging").mkdir()
    (tmp_path / "packaging/__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    run = _run_self_check(tmp_path)
    assert run.returncode == InstalledSoftwareAltered.exit_code and "Traceback" not in run.stderr, run.stderr
    assert f"import packaging would load {tmp_path / 'packaging' / '__init__.py'}" in run.stderr
    assert not marker.exists() and "packaging" not in _imported(run)
    (tmp_path / "packaging/__init__.py").unlink()  # control: without it the walk goes on (past the reader)
    (tmp_path / "packaging").rmdir()
    again = _run_self_check(tmp_path)
    assert "packaging would load" not in again.stderr and "packaging" in _imported(again)
