"""The clean-room external-validation phantoms (validation/external_phantoms, issue 14 item 4).

SRS-021 (the standalone performance study's acceptance criteria): these tests qualify the data
that the external check of those criteria is run on. Thirty seeds are generated once per module.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from validation.external_phantoms import (LESION_LABEL, ORGAN_LABEL, STRUCTURE_CODES, generate, largest_inplane_extent,
                                          read_hu, write_case)
from validation.external_phantoms import generator as gen
from validation.external_phantoms.__main__ import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "validation" / "external_phantoms"
SEEDS = range(30)

pytestmark = pytest.mark.req("SRS-021")
IN_PLANE = ndimage.generate_binary_structure(2, 1)[None]   # erosions slice by slice


def _core(mask: np.ndarray, iterations: int) -> np.ndarray:
    return ndimage.binary_erosion(mask, structure=IN_PLANE, iterations=iterations)


@pytest.fixture(scope="module")
def cases():
    return {seed: generate(seed) for seed in SEEDS}


@pytest.fixture(scope="module")
def small_seed(cases) -> int:
    """The seed of the 30 with the fewest voxels (keeps the DICOM tests fast)."""
    return min(cases, key=lambda s: cases[s].hu.size)


@pytest.fixture(scope="module")
def written(cases, small_seed, tmp_path_factory) -> Path:
    return write_case(cases[small_seed], tmp_path_factory.mktemp("external_case"))


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_the_same_case_and_another_seed_a_different_one(cases, small_seed) -> None:
    again = generate(small_seed)
    first = cases[small_seed]
    assert np.array_equal(again.hu, first.hu) and np.array_equal(again.labels, first.labels)
    assert json.dumps(again.parameters, sort_keys=True) == json.dumps(first.parameters, sort_keys=True)
    other = cases[(small_seed + 1) % len(SEEDS)]
    assert json.dumps(other.parameters, sort_keys=True) != json.dumps(first.parameters, sort_keys=True)
    assert other.hu.shape != first.hu.shape or not np.array_equal(other.hu, first.hu)


def test_written_files_are_byte_identical_for_the_same_seed(cases, small_seed, written, tmp_path) -> None:
    again = write_case(generate(small_seed), tmp_path / "again")
    assert _digest(again) == _digest(written)
    assert len(list((written / "ct").glob("*.dcm"))) == cases[small_seed].hu.shape[0]


# --- parameter ranges ----------------------------------------------------------------------------

def _within(value: float, lo: float, hi: float) -> bool:
    return lo - 1e-9 <= value <= hi + 1e-9


def test_every_drawn_parameter_is_inside_its_stated_range(cases) -> None:
    for seed, case in cases.items():
        p = case.parameters
        acq, body, organ, st = p["acquisition"], p["body"], p["organ"], p["structures"]
        where = f"seed {seed}"
        assert 256 <= acq["matrix"] <= 512, where
        assert _within(acq["pixel_spacing_mm"], 0.5, 1.0), where
        assert _within(acq["slice_thickness_mm"], 1.0, 5.0) and acq["slice_spacing_mm"] == acq["slice_thickness_mm"], where
        assert 4 <= acq["slices"] <= 24, where
        assert case.hu.shape == case.labels.shape == (acq["slices"], acq["matrix"], acq["matrix"]), where
        assert case.spacing == (acq["slice_thickness_mm"], acq["pixel_spacing_mm"], acq["pixel_spacing_mm"]), where
        assert _within(acq["noise_sigma_hu"], 5.0, 25.0), where
        if acq["noise_correlated"]:
            assert _within(acq["noise_correlation_sigma_px"], 0.5, 1.2), where
        assert _within(acq["psf_sigma_px"], 0.5, 1.5), where
        assert (acq["pixel_representation"], acq["rescale_intercept"]) in gen.ENCODINGS, where
        assert body["air_hu"] == -1000.0, where
        assert _within(body["fat_hu"], -150.0, -50.0), where
        assert _within(body["fat_thickness_mm"]["min"], 3.0, 25.0), where
        assert _within(body["fat_thickness_mm"]["max"], 3.0, 25.0), where
        assert _within(body["fov_fill"], 0.45, 0.9), where
        tissue = body["tissue_hu"]
        for key in ("min", "max", "sampled_min", "sampled_max"):
            assert _within(tissue[key], -10.0, 60.0), (where, key)
        assert _within(organ["hu"], 40.0, 80.0), where
        if body["tissue_relative_to_organ"] == "darker":
            assert organ["hu"] - tissue["max"] >= 15.0 - 1e-9, where
        else:
            assert tissue["min"] - organ["hu"] >= 15.0 - 1e-9, where
        assert organ["slices_present"] >= acq["slices"] - 1, where
        assert organ["area_fraction_central_slice"] >= organ["minimum_area_fraction"] * 0.9, where
        assert 2 <= organ["lobes"] <= 4, where
        assert 0 <= p["lesion_count"] <= 5 and p["lesion_count"] == len(p["lesions"]), where
        for lesion in p["lesions"]:
            assert _within(lesion["diameter_mm"], 10.0, 40.0), where
            assert _within(abs(lesion["contrast_hu"]), 20.0, 80.0), where
            assert lesion["type"] == ("hyperdense" if lesion["contrast_hu"] > 0 else "hypodense"), where
            assert lesion["hu"] == pytest.approx(organ["hu"] + lesion["contrast_hu"]), where
            assert lesion["volume_ml"] > 0, where
        for key in ("cortex_hu", "marrow_hu"):
            assert _within(st["spine"][key], 300.0, 1500.0), where
        assert _within(st["ribs"]["hu"], 300.0, 1500.0), where
        assert _within(st["vessel"]["hu"], 20.0, 300.0), where
        assert _within(st["kidney_like"]["hu"], 20.0, 300.0), where
        for pocket in st["air_pockets"]["pockets"]:
            assert _within(pocket["hu"], -1000.0, -700.0), where
        assert set(np.unique(case.labels).tolist()) <= {0, ORGAN_LABEL, LESION_LABEL}, where


def test_the_draws_cover_both_sides_of_every_contrast(cases) -> None:
    params = [c.parameters for c in cases.values()]
    assert {p["body"]["tissue_relative_to_organ"] for p in params} == {"darker", "brighter"}
    assert {les["type"] for p in params for les in p["lesions"]} == {"hypodense", "hyperdense"}
    counts = [p["lesion_count"] for p in params]
    assert set(counts) == {0, 1, 2, 3, 4, 5}
    assert {(p["acquisition"]["pixel_representation"], p["acquisition"]["rescale_intercept"]) for p in params} \
        == set(gen.ENCODINGS)
    assert len({p["acquisition"]["matrix"] for p in params}) >= 4
    assert {p["acquisition"]["noise_correlated"] for p in params} == {True, False}
    diameters = [les["diameter_mm"] for p in params for les in p["lesions"]]
    assert min(diameters) < 15.0 and max(diameters) > 30.0


# --- ground truth --------------------------------------------------------------------------------

def test_lesions_lie_inside_the_organ_and_measure_10_to_40_mm(cases) -> None:
    for seed, case in cases.items():
        lesions = case.parameters["lesions"]
        assert set(np.unique(case.lesion_instances).tolist()) == set(range(len(lesions) + 1)), seed
        assert np.array_equal(case.lesion_instances > 0, case.labels == LESION_LABEL), seed
        for index, lesion in enumerate(lesions, start=1):
            mask = case.lesion_instances == index
            # every neighbour (6-connected, in-plane and along z) is organ or lesion
            assert np.all(case.labels[ndimage.binary_dilation(mask)] > 0), (seed, index)
            measured = largest_inplane_extent(mask, case.spacing[1])
            assert measured == pytest.approx(lesion["diameter_mm"]), (seed, index)
            assert 10.0 <= measured <= 40.0, (seed, index, measured)
            volume = float(mask.sum()) * case.spacing[0] * case.spacing[1] * case.spacing[2] / 1000.0
            assert volume == pytest.approx(lesion["volume_ml"]), (seed, index)


def test_organ_and_lesion_intensities_match_their_parameters(cases) -> None:
    for seed, case in cases.items():
        p = case.parameters
        organ_core = _core(case.labels == ORGAN_LABEL, 3)
        assert abs(float(case.hu[organ_core].mean()) - p["organ"]["hu"]) < 3.0, seed
        for index, lesion in enumerate(p["lesions"], start=1):
            core = _core(case.lesion_instances == index, 3)
            if core.sum() >= 30:
                assert abs(float(case.hu[core].mean()) - lesion["hu"]) < max(8.0, 0.25 * abs(lesion["contrast_hu"])), \
                    (seed, index)


def test_non_organ_structures_are_present_and_never_labelled(cases) -> None:
    seen = {name: 0 for name in STRUCTURE_CODES}
    for seed, case in cases.items():
        structures = case.parameters["structures"]
        assert not np.any(case.labels[case.structure_map > 0]), seed
        for name, code in STRUCTURE_CODES.items():
            voxels = int(np.sum(case.structure_map == code))
            assert voxels == structures["voxels"][name], (seed, name)
            if structures[name]["present"]:
                assert voxels > 0, (seed, name)
                seen[name] += 1
        assert structures["spine"]["present"] and structures["ribs"]["present"], seed
        # bone is bright, gas is dark, air outside the body is about -1000 HU
        bone = _core(case.structure_map == STRUCTURE_CODES["spine"], 2)
        assert case.hu[bone].mean() > 300.0, seed
        gas = _core(case.structure_map == STRUCTURE_CODES["air_pockets"], 2)
        if gas.any():
            assert case.hu[gas].mean() < -600.0, seed
        corner = case.hu[:, :8, :8]
        assert abs(float(corner.mean()) + 1000.0) < 25.0, seed
    assert all(count > 0 for count in seen.values()), seen


# --- DICOM ---------------------------------------------------------------------------------------

def test_the_ct_series_reads_back_to_the_same_hu(cases, small_seed, written) -> None:
    case = cases[small_seed]
    assert np.array_equal(read_hu(written / "ct"), case.hu.astype(np.float64))
    files = sorted((written / "ct").glob("*.dcm"))
    first = pydicom.dcmread(files[0])
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert first.PhotometricInterpretation == "MONOCHROME2" and first.BitsAllocated == 16
    assert (first.PixelRepresentation, float(first.RescaleIntercept)) == case.encoding
    assert float(first.SliceThickness) == case.thickness
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in files]
    assert np.allclose(np.diff(sorted(z)), case.thickness)
    assert str(first.PatientName) == f"EXTERNAL^PHANTOM^{small_seed:04d}" and first.PatientID == f"EXT-{small_seed:04d}"
    params = json.loads((written / "parameters.json").read_text(encoding="utf-8"))
    assert params == json.loads(json.dumps(case.parameters))


def test_every_encoding_round_trips_exactly(cases, small_seed, tmp_path) -> None:
    """The same HU written as unsigned/-1024, signed/-1024 and signed/0 reads back identically."""
    from dataclasses import replace
    from validation.external_phantoms.dicom_io import ct_datasets

    base = cases[small_seed]
    for representation, intercept in gen.ENCODINGS:
        case = replace(base, encoding=(representation, intercept))
        for k, ds in enumerate(ct_datasets(case)[:2]):
            path = tmp_path / f"{representation}_{int(intercept)}_{k}.dcm"
            ds.save_as(path, enforce_file_format=True)
            back = pydicom.dcmread(path)
            hu = back.pixel_array.astype(np.float64) * float(back.RescaleSlope) + float(back.RescaleIntercept)
            assert np.array_equal(hu, base.hu[k]), (representation, intercept)


def test_the_seg_reads_back_to_the_same_labels_and_references_the_ct(cases, small_seed, written) -> None:
    import highdicom as hd

    case = cases[small_seed]
    ct = sorted((pydicom.dcmread(f) for f in (written / "ct").glob("*.dcm")),
                key=lambda d: float(d.ImagePositionPatient[2]))
    uids = [d.SOPInstanceUID for d in ct]
    seg = hd.seg.segread(written / "seg.dcm")
    assert seg.SegmentationType == "BINARY"
    labels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True)
    assert np.array_equal(labels, case.labels)
    referenced = {item.ReferencedSOPInstanceUID
                  for series in seg.ReferencedSeriesSequence for item in series.ReferencedInstanceSequence}
    assert referenced == set(uids)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == ct[0].SeriesInstanceUID
    assert seg.FrameOfReferenceUID == ct[0].FrameOfReferenceUID and seg.StudyInstanceUID == ct[0].StudyInstanceUID
    segments = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    assert segments[ORGAN_LABEL].SegmentedPropertyTypeCodeSequence[0].CodeValue == "91772007"
    assert segments[ORGAN_LABEL].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert segments[LESION_LABEL].SegmentedPropertyTypeCodeSequence[0].CodeValue == "52988006"
    assert segments[LESION_LABEL].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert all(s.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT" for s in segments.values())


@pytest.mark.dicom_tools
def test_the_written_dicom_passes_dciodvfy(written, dciodvfy) -> None:
    files = sorted((written / "ct").glob("*.dcm"))
    for path in (files[0], files[-1], written / "seg.dcm"):
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=120)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], (path.name, errors)


# --- command line and isolation ------------------------------------------------------------------

def test_the_command_line_writes_a_set_and_refuses_a_non_empty_folder(small_seed, tmp_path, capsys) -> None:
    out = tmp_path / "set"
    assert cli_main(["--out", str(out), "--count", "1", "--base-seed", str(small_seed)]) == 0
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [c["seed"] for c in index["cases"]] == [small_seed]
    case_dir = out / f"EXT-{small_seed:04d}"
    assert (case_dir / "seg.dcm").is_file() and (case_dir / "parameters.json").is_file()
    assert cli_main(["--out", str(out), "--count", "1", "--base-seed", str(small_seed)]) == 2
    assert "refusing" in capsys.readouterr().err


def test_the_package_does_not_import_the_device_or_its_generator() -> None:
    code = ("import sys, validation.external_phantoms as m, validation.external_phantoms.__main__; "
            "bad = sorted(n for n in sys.modules if n.split('.')[0] == 'device_ai'); print(bad); "
            "raise SystemExit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import device_ai" not in text and "from device_ai" not in text, path.name
