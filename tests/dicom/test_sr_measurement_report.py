"""The TID 1500 Comprehensive 3D SR (dicom/sr.py) and the measurements it reports
(inference/postprocess.py), checked independently of the code that writes them.

``report_problems`` reads the SR with pydicom alone (not highdicom's parser) and recomputes
every number from the SEG's pixels and the source images' own geometry (PixelSpacing,
positions along the normal): volumes by counting voxels, lesions by an independent 26-connected
labelling, diameters by brute force over every pixel pair. Negative controls show that it
reports a wrong reference, a wrong segment and a wrong slice spacing.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from scipy import ndimage
from scipy.spatial.distance import pdist

from conftest import dciodvfy_errors
from device_ai import cli
from device_ai.dicom.contract import DEMO_CONTRACT
from device_ai.dicom.reader import collect_input_files
from device_ai.dicom.seg import AlgorithmIdentity, SegmentSpec, build_seg, write_seg
from device_ai.dicom.series import CTSeries, load_series
from device_ai.dicom.sr import DEVICE_UID, LesionFinding, SegmentVolume, build_sr, write_sr
from device_ai.inference import analyze as analyze_module
from device_ai.inference.postprocess import max_inplane_diameter, measure
from device_ai.model.package import signing
from device_ai.model.package.manifest import LabelRole, find_label
from device_ai.training.labels import DEMO_LABELS
from tests.dicom.synthetic import phantom_hu, write_series
from tests.package_factory import make_package

SEGMENTS = tuple(SegmentSpec.from_label(label) for label in DEMO_LABELS)
ORGAN = find_label(DEMO_LABELS, role=LabelRole.ORGAN).value
LESION = find_label(DEMO_LABELS, role=LabelRole.LESION).value
ALGORITHM = AlgorithmIdentity(name="demo-dinov2-seg", version="1.0.0", family="Artificial Intelligence",
                              model_digest="cd" * 32, manufacturer="device_ai", software_version="0.1.0")
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
SLICE_MM, PIXEL_MM = 2.5, 0.75  # tests/dicom/synthetic.py defaults: thickness = slice step
# concept names (PS3.16): Measurement Group, Tracking Identifier, Finding, Referenced Segment,
# Volume, Long axis, Algorithm Name/Version/Parameters
GROUP, TRACKING, FINDING, REF_SEGMENT = "125007", "112039", "121071", "121191"
VOLUME, LONG_AXIS = "118565006", "103339001"
ALGO_NAME, ALGO_VERSION, ALGO_PARAMETERS = "111001", "111003", "111002"


# --- measurement functions on phantoms with analytic truth ------------------------------------


@pytest.mark.req("SRS-101")
def test_box_and_sphere_volumes_match_their_analytic_volume() -> None:
    spacing = (2.0, 0.5, 0.8)  # slice, row, column (mm): all different, so a swap shows
    labels = np.zeros((30, 80, 60), np.uint8)
    labels[2:12, 10:50, 5:35] = ORGAN  # a 10 x 40 x 30 voxel box: 20 x 20 x 24 mm = 9600 mm3
    z, r, c = np.mgrid[0:30, 0:80, 0:60]
    radius = 7.0  # mm; centre off the voxel grid
    sphere = ((z - 20.3) * 2.0) ** 2 + ((r - 40.2) * 0.5) ** 2 + ((c - 30.4) * 0.8) ** 2 <= radius**2
    labels[sphere] = LESION
    result = measure(labels, spacing, label_defs=DEMO_LABELS)
    assert result.voxel_counts == {"Organ": 12000, "Lesion": int(sphere.sum())}
    assert result.volumes_ml["Organ"] == pytest.approx(9.6)
    (lesion,) = result.lesions
    assert lesion.voxel_count == int(sphere.sum())
    assert lesion.volume_mm3 == pytest.approx(int(sphere.sum()) * 0.8)  # voxels x voxel volume
    assert lesion.volume_mm3 == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)  # the sphere's volume
    # a wrong slice spacing gives a volume outside that tolerance (the check can fail)
    wrong = measure(labels, (2.5, 0.5, 0.8), label_defs=DEMO_LABELS).lesions[0]
    assert wrong.volume_mm3 != pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)


@pytest.mark.req("SRS-101")
@pytest.mark.parametrize("spacing", [(0.7, 0.7), (0.5, 0.8)], ids=["square", "anisotropic"])
def test_max_inplane_diameter_of_a_disc_is_within_a_pixel(spacing: tuple[float, float]) -> None:
    row_mm, col_mm = spacing
    r, c = np.mgrid[0:120, 0:120]
    radius = 21.3  # mm
    disc = ((r - 60.3) * row_mm) ** 2 + ((c - 59.6) * col_mm) ** 2 <= radius**2
    mask = np.zeros((3, 120, 120), bool)
    mask[1] = disc
    mask[2] = np.roll(disc, 3) & False  # an empty slice does not count
    diameter, where = max_inplane_diameter(mask, row_mm, col_mm)
    assert where == 1
    assert 2 * radius - max(spacing) <= diameter <= 2 * radius


@pytest.mark.req("SRS-101")
def test_diameter_of_a_rotated_ellipse_is_its_major_axis_not_its_bounding_box() -> None:
    r, c = np.mgrid[0:160, 0:160].astype(float) * 0.6
    angle = np.deg2rad(30)
    u = (c - 48) * np.cos(angle) + (r - 48) * np.sin(angle)
    v = -(c - 48) * np.sin(angle) + (r - 48) * np.cos(angle)
    mask = ((u / 20.0) ** 2 + (v / 6.0) ** 2 <= 1)[None]
    diameter, _ = max_inplane_diameter(mask, 0.6, 0.6)
    assert 40.0 - 0.6 <= diameter <= 40.0
    rows, cols = np.nonzero(mask[0])
    box = max(np.ptp(rows) + 1, np.ptp(cols) + 1) * 0.6
    assert abs(box - 40.0) > 0.6  # the bounding-box extent would not pass the same check


@pytest.mark.req("SRS-101")
def test_each_lesion_is_a_26_connected_component_in_3d() -> None:
    labels = np.zeros((6, 30, 30), np.uint8)
    labels[:, 2:28, 2:28] = ORGAN
    labels[1:3, 5:8, 5:8] = LESION
    labels[3:5, 8:11, 8:11] = LESION  # touches the first only at a corner: one lesion
    labels[1:4, 20:24, 20:24] = LESION  # apart: a second lesion
    result = measure(labels, (1.0, 1.0, 1.0), label_defs=DEMO_LABELS)
    assert sorted(lesion.voxel_count for lesion in result.lesions) == [36, 48]
    assert sorted(lesion.slices for lesion in result.lesions) == [(1, 3), (1, 4)]


@pytest.mark.req("SRS-101")
def test_no_lesion_means_no_lesion_measurements() -> None:
    labels = np.zeros((2, 10, 10), np.uint8)
    assert measure(labels, (1.0, 1.0, 1.0), label_defs=DEMO_LABELS).lesions == ()
    assert max_inplane_diameter(labels.astype(bool), 1.0, 1.0) == (0.0, 0)


# --- an independent reading of the report ---------------------------------------------------


def _code(item: Dataset) -> str:
    return item.ConceptNameCodeSequence[0].CodeValue


def _walk(items) -> list[Dataset]:  # noqa: ANN001
    found = []
    for item in items or []:
        found.append(item)
        found.extend(_walk(item.get("ContentSequence")))
    return found


def _groups(sr: Dataset) -> list[Dataset]:
    return [item for item in _walk(sr.ContentSequence) if item.ValueType == "CONTAINER" and _code(item) == GROUP]


def _child(group: Dataset, code: str) -> list[Dataset]:
    return [item for item in group.ContentSequence if _code(item) == code]


def _value(item: Dataset) -> tuple[float, str]:
    measured = item.MeasuredValueSequence[0]
    return float(measured.NumericValue), measured.MeasurementUnitsCodeSequence[0].CodeValue


def _geometry(sources: list[Dataset]) -> tuple[list[Dataset], float, float, float]:
    """Sources sorted along the normal, slice step, row and column spacing, from the images alone."""
    cosines = np.array(sources[0].ImageOrientationPatient, float)
    normal = np.cross(cosines[:3], cosines[3:])
    ordered = sorted(sources, key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, float))))
    positions = [float(np.dot(normal, np.array(ds.ImagePositionPatient, float))) for ds in ordered]
    step = float(np.mean(np.diff(positions))) if len(positions) > 1 else float(ordered[0].SliceThickness)
    return ordered, step, float(ordered[0].PixelSpacing[0]), float(ordered[0].PixelSpacing[1])


def report_problems(sr: Dataset, seg_path: Path, sources: list[Dataset]) -> list[str]:
    """What is wrong in ``sr`` against the SEG file and the source images (empty: nothing)."""
    problems: list[str] = []
    seg = pydicom.dcmread(seg_path)
    ordered, step, row_mm, col_mm = _geometry(sources)
    known = {ds.SOPInstanceUID for ds in sources} | {seg.SOPInstanceUID}
    for item in _walk(sr.ContentSequence):
        for ref in item.get("ReferencedSOPSequence", []):
            if ref.ReferencedSOPInstanceUID not in known:
                problems.append(f"reference {ref.ReferencedSOPInstanceUID} does not resolve")
    for study in sr.CurrentRequestedProcedureEvidenceSequence:
        for series in study.ReferencedSeriesSequence:
            for ref in series.ReferencedSOPSequence:
                if ref.ReferencedSOPInstanceUID not in known:
                    problems.append(f"evidence {ref.ReferencedSOPInstanceUID} does not resolve")
    segments = {int(item.SegmentNumber): item for item in seg.SegmentSequence}
    pixels = hd.seg.segread(seg_path).get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in ordered], combine_segments=True,
        assert_missing_frames_are_empty=True)
    voxel = step * row_mm * col_mm
    lesion_map, count = ndimage.label(pixels == LESION, structure=np.ones((3, 3, 3), bool))
    truth = []  # (volume mm3, diameter mm, slice UIDs) of each lesion, independently
    for index in range(1, count + 1):
        component = lesion_map == index
        diameter = 0.0
        for z in np.flatnonzero(component.any(axis=(1, 2))):
            rows, cols = np.nonzero(component[z])
            if rows.size > 1:
                diameter = max(diameter, float(pdist(np.column_stack((rows * row_mm, cols * col_mm))).max()))
        slices = {ordered[z].SOPInstanceUID for z in np.flatnonzero(component.any(axis=(1, 2)))}
        truth.append((component.sum() * voxel, diameter, slices))
    reported = []
    for group in _groups(sr):
        name = _child(group, TRACKING)[0].TextValue
        (segment_ref,) = _child(group, REF_SEGMENT)
        number = int(segment_ref.ReferencedSOPSequence[0].ReferencedSegmentNumber)
        if segment_ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID != seg.SOPInstanceUID:
            problems.append(f"{name}: references another SEG")
        if number not in segments:
            problems.append(f"{name}: segment {number} is not in the SEG")
            continue
        finding = _child(group, FINDING)[0].ConceptCodeSequence[0].CodeValue
        if finding != segments[number].SegmentedPropertyTypeCodeSequence[0].CodeValue:
            problems.append(f"{name}: finding {finding} is not what segment {number} is")
        sources_of_group = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
                            for item in _child(group, "121233")}
        volume, unit = _value(_child(group, VOLUME)[0])
        if re.fullmatch(r"Lesion \d+", name):
            diameter, diameter_unit = _value(_child(group, LONG_AXIS)[0])
            if (unit, diameter_unit) != ("mm3", "mm") or number != LESION:
                problems.append(f"{name}: units {unit}, {diameter_unit} or segment {number}")
            reported.append((volume, diameter, sources_of_group))
        else:
            expected = np.count_nonzero(pixels == number) * voxel / 1000.0
            if unit != "mL" or volume != pytest.approx(expected, rel=1e-5, abs=1e-9):
                problems.append(f"{name}: volume {volume} {unit}, independently {expected} mL")
            if sources_of_group != {ds.SOPInstanceUID for ds in sources}:
                problems.append(f"{name}: does not reference every source image")
    for (volume, diameter, slices), (t_volume, t_diameter, t_slices) in zip(sorted(reported, key=lambda x: x[0]),
                                                                           sorted(truth, key=lambda x: x[0])):
        if volume != pytest.approx(t_volume, rel=1e-5) or diameter != pytest.approx(t_diameter, rel=1e-5):
            problems.append(f"lesion: {volume} mm3, {diameter} mm; independently {t_volume} mm3, {t_diameter} mm")
        if slices != t_slices:
            problems.append("lesion: its source images are not the slices it spans")
    if len(reported) != len(truth):
        problems.append(f"{len(reported)} lesion groups for {len(truth)} lesions")
    return problems


# --- the writer on a synthetic series with a known label map ---------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[CTSeries, list[Dataset]]:
    folder = tmp_path_factory.mktemp("sr") / "series"
    files = write_series(folder, phantom_hu(slices=6))
    series = load_series(collect_input_files(folder), DEMO_CONTRACT)
    return series, [pydicom.dcmread(path) for path in files]


def _labels(series: CTSeries) -> np.ndarray:
    labels = np.zeros(series.hu.shape, np.uint8)
    labels[series.hu >= 80] = ORGAN
    labels[1:3, 60:70, 60:72] = LESION  # lesion 1 on slices 1-2
    labels[3:6, 140:150, 100:108] = LESION  # lesion 2 on slices 3-5
    return labels


def _write(series: CTSeries, labels: np.ndarray, folder: Path, spacing: tuple[float, float, float] | None = None):  # noqa: ANN202
    """SEG and SR files of ``labels`` (measured with ``spacing``, the series' own by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    seg = build_seg(series, labels, SEGMENTS, ALGORITHM)
    write_seg(seg, folder / "seg.dcm")
    spacing = spacing or (series.slice_spacing_mm, *series.pixel_spacing_mm)
    measured = measure(labels, spacing, label_defs=DEMO_LABELS)
    volumes = [SegmentVolume(spec, measured.voxel_counts[spec.name] * measured.voxel_volume_mm3 / 1000)
               for spec in SEGMENTS]
    lesions = [LesionFinding(lesion.index, lesion.volume_mm3, lesion.max_inplane_diameter_mm,
                             tuple(range(lesion.slices[0], lesion.slices[1] + 1)), lesion.diameter_slice)
               for lesion in measured.lesions]
    sr = build_sr(series, seg, volumes, lesions, SEGMENTS[LESION - 1], ALGORITHM)
    write_sr(sr, folder / "sr.dcm")
    return folder / "seg.dcm", folder / "sr.dcm"


@pytest.mark.req("SRS-100", "SRS-101", "SRS-102")
def test_report_validates_and_agrees_with_the_seg_and_the_images(source, tmp_path: Path, dciodvfy: str) -> None:  # noqa: ANN001
    series, datasets = source
    assert (series.slice_spacing_mm, series.pixel_spacing_mm) == (SLICE_MM, (PIXEL_MM, PIXEL_MM))
    seg_path, sr_path = _write(series, _labels(series), tmp_path)
    assert dciodvfy_errors(dciodvfy, sr_path) == []
    sr = pydicom.dcmread(sr_path)
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR and sr.Modality == "SR"
    assert report_problems(sr, seg_path, datasets) == []
    names = [_child(group, TRACKING)[0].TextValue for group in _groups(sr)]
    assert names == ["Organ segment", "Lesion segment", "Lesion 1", "Lesion 2"]
    lesion_1 = _groups(sr)[2]
    volume, unit = _value(_child(lesion_1, VOLUME)[0])
    assert (volume, unit) == (pytest.approx(2 * 10 * 12 * SLICE_MM * PIXEL_MM**2), "mm3")  # a 2 x 10 x 12 box
    diameter, unit = _value(_child(lesion_1, LONG_AXIS)[0])
    assert (diameter, unit) == (pytest.approx(np.hypot(9, 11) * PIXEL_MM), "mm")  # its diagonal, centre to centre


@pytest.mark.req("SRS-102", "SRS-101")
def test_the_checks_detect_a_wrong_reference_segment_or_spacing(source, tmp_path: Path) -> None:  # noqa: ANN001
    series, datasets = source
    labels = _labels(series)
    seg_path, sr_path = _write(series, labels, tmp_path / "good")
    sr = pydicom.dcmread(sr_path)

    dangling = copy.deepcopy(sr)
    source_ref = next(item for item in _walk(dangling.ContentSequence) if _code(item) == "121233")
    source_ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = "2.25.1234"
    assert any("does not resolve" in p for p in report_problems(dangling, seg_path, datasets))

    other_segment = copy.deepcopy(sr)
    lesion_group = _groups(other_segment)[2]
    _child(lesion_group, REF_SEGMENT)[0].ReferencedSOPSequence[0].ReferencedSegmentNumber = ORGAN
    assert any("is not what segment" in p for p in report_problems(other_segment, seg_path, datasets))

    missing_segment = copy.deepcopy(sr)
    _child(_groups(missing_segment)[0], REF_SEGMENT)[0].ReferencedSOPSequence[0].ReferencedSegmentNumber = 9
    assert any("segment 9 is not in the SEG" in p for p in report_problems(missing_segment, seg_path, datasets))

    # measured with the slice thickness of another series: every volume is off
    _, wrong_sr = _write(series, labels, tmp_path / "wrong", spacing=(1.0, PIXEL_MM, PIXEL_MM))
    problems = report_problems(pydicom.dcmread(wrong_sr), seg_path, datasets)
    assert any("Organ segment: volume" in p for p in problems) and any(p.startswith("lesion:") for p in problems)
    # and with the rows and columns of another pixel size: the diameters are off too
    _, wrong_sr = _write(series, labels, tmp_path / "wrong-pixel", spacing=(SLICE_MM, 0.5, 0.5))
    assert any(p.startswith("lesion:") for p in report_problems(pydicom.dcmread(wrong_sr), seg_path, datasets))


@pytest.mark.req("SRS-103", "SRS-104", "SRS-100")
def test_identity_observer_flags_and_copied_patient_study(source, tmp_path: Path) -> None:  # noqa: ANN001
    series, datasets = source
    seg_path, sr_path = _write(series, _labels(series), tmp_path)
    sr, seg = pydicom.dcmread(sr_path), pydicom.dcmread(seg_path)
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == ("COMPLETE", "UNVERIFIED", "PRELIMINARY")
    assert "VerifyingObserverSequence" not in sr
    first = datasets[0]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        assert sr.get(keyword) == first.get(keyword), keyword
    assert sr.SeriesInstanceUID not in (first.SeriesInstanceUID, seg.SeriesInstanceUID)
    assert sr.SeriesNumber != seg.SeriesNumber and sr.Manufacturer == "device_ai"
    items = _walk(sr.ContentSequence)
    observer = {_code(item): item.get("UID") or item.get("TextValue") for item in items[:12] if "ValueType" in item}
    assert observer["121012"] == DEVICE_UID  # Device Observer UID
    assert observer["121013"] == "device_ai"  # name
    assert observer["121014"] == "device_ai"  # manufacturer
    assert observer["121015"] == ALGORITHM.name  # model name
    assert observer["121016"] == "DEMO-0001" == seg.DeviceSerialNumber
    measurements = [item for item in items if item.ValueType == "NUM"]
    for node in _groups(sr) + measurements:
        assert [i.TextValue for i in _child(node, ALGO_NAME)] == [ALGORITHM.name]
        assert [i.TextValue for i in _child(node, ALGO_VERSION)] == [ALGORITHM.version]
        assert [i.TextValue for i in _child(node, ALGO_PARAMETERS)] == [f"manifest_sha256={ALGORITHM.model_digest}"]
    # the same identity as the SEG's Segmentation Algorithm Identification
    identification = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert ALGORITHM.model_digest in identification.AlgorithmParameters
    assert identification.AlgorithmVersion == ALGORITHM.version


@pytest.mark.req("SRS-101", "SRS-100")
def test_lesion_free_and_empty_results_still_report_every_segment(source, tmp_path: Path, dciodvfy: str) -> None:  # noqa: ANN001
    series, datasets = source
    organ_only = _labels(series)
    organ_only[organ_only == LESION] = ORGAN
    for name, labels in [("organ-only", organ_only), ("nothing", np.zeros(series.hu.shape, np.uint8))]:
        seg_path, sr_path = _write(series, labels, tmp_path / name)
        assert dciodvfy_errors(dciodvfy, sr_path) == [], name
        sr = pydicom.dcmread(sr_path)
        assert report_problems(sr, seg_path, datasets) == [], name
        groups = {_child(group, TRACKING)[0].TextValue: _value(_child(group, VOLUME)[0]) for group in _groups(sr)}
        assert list(groups) == ["Organ segment", "Lesion segment"], name  # no lesion groups
        assert groups["Lesion segment"] == (0.0, "mL")
        assert (groups["Organ segment"][0] > 0) is (name == "organ-only")


@pytest.mark.req("SRS-102")
def test_a_segment_the_seg_does_not_describe_is_refused(source, tmp_path: Path) -> None:  # noqa: ANN001
    from device_ai.errors import OutputError

    series, _ = source
    seg = build_seg(series, _labels(series), SEGMENTS, ALGORITHM)
    stranger = SegmentSpec(label_value=3, name="Other", category=SEGMENTS[0].category,
                           property_type=SEGMENTS[0].property_type)
    with pytest.raises(OutputError, match="segment 3"):
        build_sr(series, seg, [SegmentVolume(stranger, 1.0)], [], SEGMENTS[LESION - 1], ALGORITHM)
    with pytest.raises(OutputError, match="outside the series"):
        build_sr(series, seg, [], [LesionFinding(1, 1.0, 1.0, (7,), 7)], SEGMENTS[LESION - 1], ALGORITHM)


# --- analyze: the SR beside the SEG, published with the other outputs ------------------------


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return make_package(tmp_path_factory.mktemp("pkg") / "tiny", key), signing.public_key_to_b64(key.public_key())


@pytest.fixture
def model(tiny_package, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001
    monkeypatch.setenv("DEVICE_AI_TRUSTED_MODEL_KEYS", tiny_package[1])
    monkeypatch.delenv("DEVICE_AI_CONFIG", raising=False)
    return tiny_package[0]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = tmp_path_factory.mktemp("phantom") / "series"
    write_ct_series(generate_case(split_seeds("test", 1)[0], split="test", n_slices=3), folder)
    return folder


@pytest.fixture(scope="module")
def thick_slices(phantom: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom with SliceThickness 1 mm more than its slice step (overlapping slices): volumes
    must use the step between positions, not the thickness."""
    folder = tmp_path_factory.mktemp("thick") / "series"
    folder.mkdir()
    for path in sorted(phantom.iterdir()):
        ds = pydicom.dcmread(path)
        ds.SliceThickness = float(ds.SliceThickness) + 1.0
        ds.save_as(folder / path.name, enforce_file_format=True)
    return folder


@pytest.mark.req("SRS-100", "SRS-101", "SRS-102", "SRS-103")
@pytest.mark.parametrize("labels", ["model", "two-lesions", "two-lesions-thick-slices"])
def test_analyze_publishes_the_report_beside_the_seg(labels: str, model: Path, phantom: Path, thick_slices: Path,
                                                     tmp_path: Path, dciodvfy: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model's own labels (no lesion), then a known label map in its place (two lesions),
    through the whole analysis: measuring, both writers, staging and publication."""
    import hashlib

    if labels.endswith("thick-slices"):
        phantom = thick_slices
    if labels.startswith("two-lesions"):
        def known(engine, hu, spacing, progress=None, observe=None):  # noqa: ANN001, ANN202, ARG001
            out = np.zeros(hu.shape, np.uint8)
            out[:, 60:220, 60:220] = ORGAN
            out[0:2, 100:112, 100:109] = LESION
            out[1:3, 180:200, 150:160] = LESION
            return out

        monkeypatch.setattr(analyze_module, "segment_volume", known)
    out = tmp_path / "result"
    assert cli.main(["analyze", str(phantom), "--out", str(out), "--model", str(model)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"][:2] == ["segmentation.dcm", "measurements.dcm"]
    assert dciodvfy_errors(dciodvfy, out / "measurements.dcm") == []
    sources = [pydicom.dcmread(path) for path in sorted(phantom.iterdir())]
    sr = pydicom.dcmread(out / "measurements.dcm")
    assert report_problems(sr, out / "segmentation.dcm", sources) == []
    assert sr.StudyInstanceUID == sources[0].StudyInstanceUID
    manifest = json.loads((model / "manifest.json").read_text())
    digest = hashlib.sha256((model / "manifest.json").read_bytes()).hexdigest()
    assert digest == summary["model"]["manifest_sha256"]
    for group in _groups(sr):
        assert _child(group, ALGO_NAME)[0].TextValue == manifest["name"]
        assert _child(group, ALGO_VERSION)[0].TextValue == manifest["version"]
        assert _child(group, ALGO_PARAMETERS)[0].TextValue == f"manifest_sha256={digest}"
    lesion_groups = [g for g in _groups(sr) if _child(g, TRACKING)[0].TextValue.startswith("Lesion ")
                     and _child(g, LONG_AXIS)]
    assert len(lesion_groups) == summary["lesion_count"] == (2 if labels.startswith("two-lesions") else 0)


@pytest.mark.req("SRS-100")
@pytest.mark.parametrize("where", ["report", "after-report"])
def test_a_failed_analysis_publishes_no_report(where: str, model: Path, phantom: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.app.audit_trail import EntryFilter, entries
    from device_ai.errors import OutputError

    written: list[Path] = []
    real_write_sr = analyze_module.write_sr

    def spy(sr, path, **kwargs):  # noqa: ANN001, ANN202
        written.append(Path(path))
        return real_write_sr(sr, path, **kwargs)

    def broken(*args: object, **kwargs: object) -> None:
        if where == "report":
            raise OutputError("SR not written: injected")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(analyze_module, "write_sr", spy)
    monkeypatch.setattr(analyze_module, "build_report" if where == "report" else "render_preview", broken)
    out = tmp_path / "result"
    assert cli.main(["analyze", str(phantom), "--out", str(out), "--model", str(model)]) != 0
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a staging folder
    if where == "after-report":  # it had been written, in the staging folder only
        assert written and all(path.parent.name.startswith(".") for path in written)
    assert not any(path.exists() for path in written)
    _, recorded = entries(None, EntryFilter(event="Analysis Run"))
    assert recorded and recorded[-1]["outcome"] != 0
    assert not [entry for entry in recorded if entry["outcome"] == 0]
