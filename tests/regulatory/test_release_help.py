"""``trace check --help`` says what --release adds, the unacceptable residual risk included
(SRS-186; review 67's low finding, fixed by helper-69). The reviewer's test looks for the word
"unacceptable" anywhere after --release, which the threat rule's wording also satisfies; this one
pins the residual-risk clause itself."""

from __future__ import annotations

import pytest

from device_ai.cli import main


def _release_help(capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit):
        main(["trace", "check", "--help"])
    text = capsys.readouterr().out
    return " ".join(text[text.index("--release"):].split())


@pytest.mark.req("SRS-186")
def test_release_help_says_an_unacceptable_residual_risk_is_a_gap_only_with_it(capsys) -> None:  # noqa: ANN001
    text = _release_help(capsys)
    assert "an unacceptable residual risk (without --release listed as open: not releasable; SRS-186)" in text
    assert text.endswith("are gaps")


@pytest.mark.req("SRS-186")
def test_control_the_help_of_another_option_does_not_say_it(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main(["trace", "build", "--help"])
    assert "unacceptable residual risk" not in " ".join(capsys.readouterr().out.split())
