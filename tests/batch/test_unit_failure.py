"""What every batch worker task does with its unit's own failure (batch/unit_failure.py): the
failure comes back typed in the result, never raised, and the one-line message (it may name an
input file) goes to the note only. Controls: a unit that succeeds records no code and writes no
note; a refusal of the input is marked as such, another expected error is not."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from device_ai.batch.unit_failure import run_unit
from device_ai.errors import DeviceAIError, InputRefused, InternalError, ModelIntegrityError


@dataclass
class _Result:
    error_code: str = ""
    error_class: str = ""
    error_exit: int = 0
    error_input: bool = False


def _run(work) -> tuple[_Result, list[str]]:  # noqa: ANN001
    result, notes = _Result(), []
    run_unit(result, work, notes.append)
    return result, notes


def _raise(exc: BaseException):  # noqa: ANN202
    def work() -> None:
        raise exc
    return work


@pytest.mark.req("SRS-164")
def test_control_a_unit_that_succeeds_records_nothing() -> None:
    result, notes = _run(lambda: None)
    assert result == _Result() and notes == []


@pytest.mark.req("SRS-164")
def test_a_refused_input_comes_back_typed_with_its_message_in_the_note_only() -> None:
    result, notes = _run(_raise(InputRefused("study-0001/slice-7.dcm: not DICOM", hint="remove it")))
    assert (result.error_code, result.error_class, result.error_exit, result.error_input) == \
        (InputRefused.code, "InputRefused", InputRefused.exit_code, True)
    assert len(notes) == 1 and "slice-7.dcm" in notes[0]


@pytest.mark.req("SRS-164")
def test_another_expected_error_is_typed_but_not_a_refusal_of_the_input() -> None:
    result, _ = _run(_raise(ModelIntegrityError("the package's signature does not verify")))
    assert (result.error_code, result.error_exit, result.error_input) == (ModelIntegrityError.code, ModelIntegrityError.exit_code, False)
    assert issubclass(ModelIntegrityError, DeviceAIError) and not issubclass(ModelIntegrityError, InputRefused)


@pytest.mark.req("SRS-164")
def test_a_defect_is_an_internal_error_whose_message_is_kept_out_of_the_note() -> None:
    result, notes = _run(_raise(KeyError("FAKE^PATIENT^NAME")))
    assert (result.error_code, result.error_class, result.error_exit) == (InternalError.code, "KeyError", 70)
    assert notes == [f"{InternalError.code}: KeyError"]  # the exception's text (it may hold PHI) is not written


@pytest.mark.req("SRS-164")
def test_the_unit_tasks_of_both_batch_commands_use_it() -> None:
    """Both worker tasks return a failure through ``run_unit`` (a task that raised instead would
    send an exception object over the wire)."""
    from device_ai.batch import analyze_work, unit_work

    for module in (analyze_work, unit_work):
        assert module.run_unit is run_unit
