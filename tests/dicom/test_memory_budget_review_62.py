"""Review 62 fixes of the memory budget (SRS-172), beside the reviewer's own tests
(tests/review/test_review_62.py, now ordinary tests):

- decoded text wider than its bytes is charged by the pre-scan before it is parsed, and a kept
  header is charged what it holds (``InputBudget.settle``), even when that is more than the charge;
- an input over its budget is refused naming the file as the other problem lines do (its path
  below the folder the input's files share);
- ``anonymize`` charges each file to a budget of its own: reading it, and the self-check's
  renderings and list of identifying values (3 x 15 MiB of random private bytes peaked at 10 GB).

Memory is asserted as traced allocations (tracemalloc), never as time."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.deidentify import run as run_module
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.reader import MIB, InputBudget, ReadLimits, read_dataset
from device_ai.dicom.series import load_series
from device_ai.errors import ReadLimitExceeded
from tests.dicom.synthetic import ct_slice, phantom_hu, write

SECRET = b"review-62-test-secret-not-a-site-key"


def _slice(path: Path, index: int = 0, **values: object) -> Path:
    """A slice of a 4-slice series, implicit VR (a text value of any length), with ``values`` set."""
    ds = ct_slice(index, phantom_hu(4, 64))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return write(ds, path)


# -- text wider than its bytes: charged before parsing, and what is kept is what is held ----------------

@pytest.mark.req("SRS-172")
def test_text_that_may_decode_wider_is_charged_four_bytes_a_byte_before_it_is_parsed(tmp_path: Path) -> None:
    size = 2 * MIB
    limits = ReadLimits(max_input_memory_bytes=7 * MIB)  # the file's bytes twice fit; its text 4 bytes a byte does not
    wide = _slice(tmp_path / "wide.dcm", SpecificCharacterSet="ISO_IR 192",
                  StudyComments="a" * (size - 4) + "\U0001F600")
    with pytest.raises(ReadLimitExceeded, match="its parsed data elements would need about 9 MiB"):
        read_dataset(wide, limits, budget=InputBudget(limits))
    # control: the same number of ASCII bytes is charged once and read
    ascii_only = _slice(tmp_path / "ascii.dcm", SpecificCharacterSet="ISO_IR 192", StudyComments="a" * size)
    budget = InputBudget(limits)
    assert len(read_dataset(ascii_only, limits, budget=budget).StudyComments) == size
    assert size <= budget.held < 2 * size


@pytest.mark.req("SRS-172")
def test_settle_charges_what_the_kept_header_holds_even_above_the_charge() -> None:
    budget = InputBudget(ReadLimits(max_input_memory_bytes=10 * MIB))
    budget.reserve("a.dcm", 1 * MIB, "its parsed data elements")
    budget.settle("a.dcm", 0, 3 * MIB)  # held more than the pre-scan charged: held is what it holds
    assert budget.held == 3 * MIB
    budget.settle("a.dcm", 0, MIB // 2)  # control: less than charged lowers the charge
    assert budget.held == MIB // 2
    with pytest.raises(ReadLimitExceeded, match="a.dcm: the part of its header kept for the analysis would need "
                                                "about 11 MiB"):
        budget.settle("a.dcm", 0, 11 * MIB)
    assert budget.exhausted()


# -- the refusal names the file by its path below the input --------------------------------------------

@pytest.mark.req("SRS-172")
def test_an_input_over_its_memory_budget_is_refused_naming_the_file_below_the_input(tmp_path: Path) -> None:
    paths = []
    for index in range(4):
        folder = tmp_path / "in" / f"part{index // 2}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(_slice(folder / f"CT{index}.dcm", index, StudyComments="x" * MIB))
    limits = ReadLimits(max_input_memory_bytes=4 * MIB + MIB // 2)  # two files fit, not a third
    with pytest.raises(ReadLimitExceeded) as refused:
        load_series(paths, DEMO_CONTRACT, limits)
    assert refused.value.message.startswith("part1/CT2.dcm: "), refused.value.message
    assert "above the limit of 4 MiB for one input" in refused.value.message
    # control: with the files in one folder the name is the file's name, as the problem lines say it
    flat = tmp_path / "flat"
    flat.mkdir()
    moved = [path.rename(flat / path.name) for path in paths]
    with pytest.raises(ReadLimitExceeded) as refused:
        load_series(moved, DEMO_CONTRACT, limits)
    assert refused.value.message.startswith("CT2.dcm: "), refused.value.message


# -- anonymize: one budget per file, the self-check's search list included ------------------------------

_LIMIT = 32 * MIB  # small, so that the test is quick; the default is 640 MiB


def _private(path: Path, value: bytes, index: int = 0) -> Path:
    """A slice with a private value (implicit VR: read as UN, removed by the profile): random bytes
    render into hundreds of thousands of printable runs, each a value the self-check searches for."""
    ds = ct_slice(index, phantom_hu(4, 64))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.private_block(0x0011, "FAKE VENDOR REVIEW 62", create=True).add_new(0x00, "OB", value)
    return write(ds, path)


def _random(nbytes: int) -> bytes:
    return np.random.default_rng(62).integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def _traced_run(deidentifier: Deidentifier, source: Path, out: Path) -> tuple[run_module.RunResult, int]:
    """The run of one file and the peak of what it allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = deidentifier.run([source], out, out.with_name(out.name + "-q"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tables and caches loaded (a first run), so that a traced run counts what the file costs."""
    folder = tmp_path_factory.mktemp("warm")
    plain = _slice(folder / "plain.dcm")
    Deidentifier(RunConfig(secret=SECRET, workers=1)).run([plain], folder / "out", folder / "q")
    return _private(folder / "random.dcm", _random(MIB // 2))


@pytest.mark.req("SRS-172")
def test_anonymize_quarantines_a_file_whose_search_list_is_over_its_budget(warm: Path, tmp_path: Path) -> None:
    limits = ReadLimits(max_input_memory_bytes=_LIMIT)
    result, peak = _traced_run(Deidentifier(RunConfig(secret=SECRET, workers=1, limits=limits)), warm, tmp_path / "out")
    assert result.written == [] and [q.code for q in result.quarantined] == ["read-limit"]
    reason = result.quarantined[0].reason
    assert reason.startswith("random.dcm: the self-check's list of its identifying values would need"), reason
    assert "above the limit of 32 MiB for one input" in reason and "remove the file's large private" in reason
    assert peak <= 1.25 * _LIMIT, f"traced peak {peak / MIB:.0f} MiB for a budget of {_LIMIT // MIB} MiB"


@pytest.mark.req("SRS-172")
def test_control_without_the_budget_the_same_file_costs_more_than_it(
        warm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound disabled (the file's budget without a memory limit): the file is de-identified and the
    run allocates far more than the limit, so the test above can fail."""
    def unbounded(limits: ReadLimits, hint: str = "") -> InputBudget:
        return InputBudget(dataclasses.replace(limits, max_input_memory_bytes=1 << 40), hint)

    monkeypatch.setattr(run_module, "InputBudget", unbounded)
    limits = ReadLimits(max_input_memory_bytes=_LIMIT)
    result, peak = _traced_run(Deidentifier(RunConfig(secret=SECRET, workers=1, limits=limits)), warm, tmp_path / "out")
    assert len(result.written) == 1 and not result.quarantined
    assert peak > 2 * _LIMIT, f"traced peak {peak / MIB:.0f} MiB"


@pytest.mark.req("SRS-172")
def test_anonymize_of_an_ordinary_slice_is_within_the_default_budget(tmp_path: Path) -> None:
    """Control on the other side: the budget does not quarantine ordinary files (the same slice
    with a 1 MiB private value of zeros, and a 64 KiB random one, are de-identified)."""
    (tmp_path / "in").mkdir()
    zeros = _private(tmp_path / "in" / "zeros.dcm", bytes(MIB))
    random = _private(tmp_path / "in" / "random.dcm", _random(64 * 1024), index=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = Deidentifier(RunConfig(secret=SECRET, workers=1)).run([zeros, random], tmp_path / "out",
                                                                       tmp_path / "q")
    assert not result.quarantined and len(result.written) == 2


# -- the File Meta Information is counted by the pre-scan like the data set --------------------------------

@pytest.mark.req("SRS-110", "SRS-172")
def test_a_file_meta_value_is_within_the_value_limit_and_charged_before_parsing(tmp_path: Path) -> None:
    ds = ct_slice(0, phantom_hu(4, 64))
    ds.file_meta.add_new(0x00020100, "UI", "1.2.826.0.1.3680043.9.7133.62")  # Private Information Creator UID
    ds.file_meta.add_new(0x00020102, "OB", bytes(3 * MIB))  # Private Information
    path = write(ds, tmp_path / "meta.dcm")
    with pytest.raises(ReadLimitExceeded, match=r"element \(0002,0102\) holds 3 MiB"):
        read_dataset(path, ReadLimits(max_value_bytes=2 * MIB))
    budget = InputBudget(ReadLimits())
    read_dataset(path, budget=budget)  # control: within a larger limit it is read, and charged
    assert budget.value_bytes >= 3 * MIB and budget.held >= 3 * MIB
