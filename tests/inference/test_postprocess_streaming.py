"""Slab-by-slab postprocessing gives today's results exactly (issue 20 item 2, SRS-171).

The reference is the whole-volume postprocessing as it was before streaming (commit 0e38087,
``inference/postprocess.py``: one ``ndimage.label`` int32 volume per step), copied here
unchanged. The slab version must give the same cleaned labels and the same measurements, float
for float, for every slab size (one slice per slab up to the whole volume), and the analysis
must write the same SEG and SR as the whole-volume pipeline (same UID seed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from scipy.spatial.distance import pdist

from device_ai.config import default_model_path
from device_ai.dicom.contract import InputContract
from device_ai.dicom.reader import collect_input_files
from device_ai.dicom.series import load_series
from device_ai.dicom.uids import derived_uids
from device_ai.inference import components
from device_ai.inference.analyze import (
    SEG_NAME,
    SR_NAME,
    algorithm_identity,
    analyze,
    build_report,
    segment_specs,
    series_spacing,
)
from device_ai.inference.engine import LockedEngine
from device_ai.inference.postprocess import (
    DEFAULT_POSTPROCESSING,
    LesionMeasurement,
    Measurements,
    clean_labels,
    logits_to_labels,
    measure,
)
from device_ai.inference.preprocess import preprocess_slice
from device_ai.dicom.seg import build_seg, write_seg
from device_ai.dicom.sr import write_sr
from device_ai.model.package.manifest import LabelRole, find_label
from device_ai.training.labels import DEMO_LABELS

FULL = np.ones((3, 3, 3), dtype=bool)
ORGAN = find_label(DEMO_LABELS, role=LabelRole.ORGAN).value
LESION = find_label(DEMO_LABELS, role=LabelRole.LESION).value


# --- the whole-volume reference (0e38087), unchanged ------------------------------------------

def _reference_clean(labels: np.ndarray, voxel_volume_mm3: float,
                     spec=DEFAULT_POSTPROCESSING) -> np.ndarray:  # noqa: ANN001
    out = labels.copy()
    if spec.keep_largest_foreground_component:
        comps, count = ndimage.label(out > 0, structure=FULL)
        if count > 1:
            sizes = np.bincount(comps.ravel())
            sizes[0] = 0
            out[comps != int(np.argmax(sizes))] = 0
    lesions, count = ndimage.label(out == LESION, structure=FULL)
    if count:
        sizes = np.bincount(lesions.ravel())
        small = np.flatnonzero(sizes * voxel_volume_mm3 < spec.min_lesion_volume_mm3)
        small = small[small > 0]
        if small.size:
            out[np.isin(lesions, small)] = ORGAN
    return out


def _reference_diameter(mask: np.ndarray, row_mm: float, col_mm: float) -> tuple[float, int]:
    best, where = 0.0, 0
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)):
        plane = mask[z]
        edge = plane & ~ndimage.binary_erosion(plane, border_value=0)
        rows, cols = np.nonzero(edge)
        if rows.size < 2:
            continue
        longest = float(pdist(np.column_stack((rows * float(row_mm), cols * float(col_mm)))).max())
        if longest > best:
            best, where = longest, int(z)
    if not best and mask.any():
        where = int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])
    return best, where


def _reference_measure(labels: np.ndarray, spacing: tuple[float, float, float]) -> dict:
    dz, dy, dx = spacing
    voxel = float(dz * dy * dx)
    lesions_map, _ = ndimage.label(labels == LESION, structure=FULL)
    lesions = []
    for index, box in enumerate(ndimage.find_objects(lesions_map), start=1):
        if box is None:
            continue
        component = lesions_map[box] == index
        centroid = ndimage.center_of_mass(component)
        centroid = tuple(float(c + s.start) for c, s in zip(centroid, box))
        extents_mm = [(s.stop - s.start) * d for s, d in zip(box, (dz, dy, dx))]
        voxels = int(np.count_nonzero(component))
        diameter, diameter_slice = _reference_diameter(component, dy, dx)
        lesions.append({"index": len(lesions) + 1, "volume_ml": round(voxels * voxel / 1000.0, 4),
                        "centroid_voxel": centroid, "max_inplane_extent_mm": round(float(max(extents_mm[1:])), 2),
                        "slices": (int(box[0].start), int(box[0].stop - 1)), "voxel_count": voxels,
                        "volume_mm3": voxels * voxel, "max_inplane_diameter_mm": diameter,
                        "diameter_slice": int(box[0].start) + diameter_slice})
    counts = {label.name: int(np.count_nonzero(labels == label.value)) for label in DEMO_LABELS}
    return {"voxel_volume_mm3": voxel, "volumes_ml": {n: round(c * voxel / 1000.0, 4) for n, c in counts.items()},
            "lesions": lesions, "voxel_counts": counts}


# --------------------------------------------------------------------------------------------

def _as_record(measurements) -> dict:  # noqa: ANN001
    record = dataclasses.asdict(measurements)
    record["lesions"] = [dict(lesion) for lesion in record["lesions"]]
    return record


def _volumes(seed: int, count: int):  # noqa: ANN202
    """Label volumes with organ and lesion blobs of every shape and size, from smoothed noise."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = (int(rng.integers(1, 13)), int(rng.integers(3, 40)), int(rng.integers(3, 40)))
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=float(rng.uniform(0.3, 2.0)))
        labels = np.zeros(shape, np.uint8)
        labels[noise > np.quantile(noise, rng.uniform(0.2, 0.7))] = ORGAN
        labels[noise > np.quantile(noise, rng.uniform(0.7, 0.98))] = LESION
        spacing = (float(rng.uniform(1, 5)), float(rng.uniform(0.5, 1)), float(rng.uniform(0.5, 1)))
        slab = int(rng.choice([1, shape[1] * shape[2], 2 * shape[1] * shape[2], 3 * shape[1] * shape[2], 10**9]))
        yield labels, float(rng.uniform(0.5, 30.0)), spacing, slab


def _same_postprocessing(labels: np.ndarray, voxel: float, spacing: tuple[float, float, float]) -> bool:
    cleaned = clean_labels(labels, voxel, label_defs=DEMO_LABELS)
    if not np.array_equal(cleaned, _reference_clean(labels, voxel)):
        return False
    # repr: every float exactly (repr round-trips)
    return all(repr(_as_record(measure(v, spacing, label_defs=DEMO_LABELS))) == repr(_reference_measure(v, spacing))
               for v in (labels, cleaned))


@pytest.mark.req("SRS-171", "SRS-013")
def test_slab_postprocessing_equals_the_whole_volume_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = lesions = 0
    for labels, voxel, spacing, slab in _volumes(seed=20, count=150):
        monkeypatch.setattr(components, "SLAB_VOXELS", slab)
        assert _same_postprocessing(labels, voxel, spacing), (labels.shape, slab, voxel, spacing)
        compared += 1
        lesions += len(_reference_measure(labels, spacing)["lesions"])
    assert compared == 150 and lesions > 150  # the volumes hold lesions to number and measure


@pytest.mark.req("SRS-171")
def test_components_join_across_slabs_and_keep_the_raster_numbering(monkeypatch: pytest.MonkeyPatch) -> None:
    # a U whose arms meet only in the last slice: one component, found from two slabs' parts;
    # and a lesion first seen in a later slab but earlier in raster order within it
    volume = np.zeros((4, 6, 6), np.uint8)
    volume[:, 1, 1] = LESION
    volume[:, 1, 4] = LESION
    volume[3, 1, 1:5] = LESION
    volume[2:, 4, 0] = LESION
    monkeypatch.setattr(components, "SLAB_VOXELS", 36)  # one slice per slab
    found = components.label_components(volume, lambda v: v == LESION, stats=True)
    reference, count = ndimage.label(volume == LESION, structure=FULL)
    assert found.count == count == 2
    assert found.sizes[1:].tolist() == np.bincount(reference.ravel())[1:].tolist() == [10, 2]
    boxes = [(b[0].start, b[1].start, b[2].start, b[0].stop, b[1].stop, b[2].stop)
             for b in ndimage.find_objects(reference)]
    assert [tuple(row) for row in found.boxes[1:].tolist()] == boxes


@pytest.mark.req("SRS-171")
def test_negative_control_a_slab_join_that_misses_diagonal_neighbours_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison fails when the join across slabs only looks straight down (6-connectivity
    between slabs): lesions touching diagonally across a slab boundary are then split."""
    def straight_only(above: np.ndarray, below: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        both = (above > 0) & (below > 0)
        pairs = np.unique(np.stack([above[both], below[both]]).astype(np.int64), axis=1)
        return pairs[0], pairs[1]

    volume = np.zeros((2, 5, 5), np.uint8)
    volume[0, 1, 1] = volume[1, 2, 2] = LESION  # 26-neighbours through a corner only
    monkeypatch.setattr(components, "SLAB_VOXELS", 25)
    assert _same_postprocessing(volume, 200.0, (1.0, 1.0, 1.0))  # the real join: one lesion, as the reference
    monkeypatch.setattr(components, "_touching", straight_only)
    assert not _same_postprocessing(volume, 200.0, (1.0, 1.0, 1.0))
    broken = sum(not _same_postprocessing(labels, voxel, spacing)
                 for labels, voxel, spacing, _ in _volumes(seed=20, count=60))
    assert broken > 0


@pytest.fixture(scope="module")
def released_engine() -> LockedEngine:
    return LockedEngine.load(default_model_path())


@pytest.fixture(scope="module", params=[(0, 16, 3), (1, 12, 1), (2, 20, 4)], ids=lambda p: f"case{p[0]}-{p[1]}slices")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> tuple[Path, int]:
    """Test-split phantoms (seed index, slices, slices per slab in the streamed analysis)."""
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    index, slices, slab = request.param
    folder = tmp_path_factory.mktemp("series") / "PHANTOM"
    write_ct_series(generate_case(split_seeds("test", 3)[index], split="test", n_slices=slices, rows=256), folder)
    return folder, slab


def _comparable(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The data set with what differs from one writing to the next blanked: every date and time
    value (the moment it was made) and highdicom's random Dimension Organization UID."""
    def blank(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
        if element.VR in ("DA", "DT", "TM") or element.keyword == "DimensionOrganizationUID":
            element.value = ""
    ds.walk(blank)
    return ds


def _whole_volume_outputs(engine: LockedEngine, folder: Path, out: Path) -> tuple[np.ndarray, Path, Path]:
    """SEG and SR as the pipeline made them before streaming: the whole HU volume decoded with
    pydicom (as ``series._decode``), inference slice by slice, whole-volume postprocessing."""
    manifest = engine.manifest
    series = load_series(collect_input_files(folder), InputContract.model_validate(manifest.input_contract))
    planes = []
    for path in series.paths:  # the sorted order
        ds = pydicom.dcmread(path)
        planes.append((ds.pixel_array.astype(np.float32) * np.float32(float(ds.RescaleSlope))
                       + np.float32(float(ds.RescaleIntercept))).astype(np.float32))
    hu = np.stack(planes)
    labels = np.zeros(hu.shape, np.uint8)
    for index in range(hu.shape[0]):
        logits = engine.run(preprocess_slice(hu[index], manifest.input.shape[-1], manifest.preprocessing))
        labels[index] = logits_to_labels(logits[0], hu.shape[1], hu.shape[2])
    spacing = series_spacing(series)
    labels = _reference_clean(labels, float(np.prod(spacing)), manifest.postprocessing)
    uid = derived_uids("streaming-equivalence")
    seg = build_seg(series, labels, segment_specs(manifest), algorithm_identity(engine), uid=uid)
    reference = _reference_measure(labels, spacing)
    lesions = tuple(LesionMeasurement(**item) for item in reference["lesions"])
    measured = Measurements(**{**reference, "lesions": lesions})
    report = build_report(engine, series, seg, measured, uid=uid)
    out.mkdir()
    return labels, write_seg(seg, out / SEG_NAME), write_sr(report, out / SR_NAME)


@pytest.mark.req("SRS-171", "SRS-170", "SRS-014")
def test_the_streamed_analysis_writes_the_whole_volume_pipelines_seg_and_sr(
        released_engine: LockedEngine, phantom_dir: tuple[Path, int], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    phantom_dir, slab = phantom_dir
    labels, seg_path, sr_path = _whole_volume_outputs(released_engine, phantom_dir, tmp_path / "reference")
    assert {ORGAN, LESION} <= set(np.unique(labels).tolist())  # something to compare: organ and lesion found
    monkeypatch.setattr(components, "SLAB_VOXELS", slab * 256 * 256)  # joins across slabs on the real path
    result = analyze(phantom_dir, tmp_path / "streamed", released_engine, uid=derived_uids("streaming-equivalence"))
    assert np.array_equal(result.labels, labels)
    assert result.summary["lesion_count"] >= 1
    for name, reference in ((SEG_NAME, seg_path), (SR_NAME, sr_path)):
        ours = _comparable(pydicom.dcmread(tmp_path / "streamed" / name))
        theirs = _comparable(pydicom.dcmread(reference))
        assert ours == theirs, name
        if name == SEG_NAME:
            assert ours.PixelData == theirs.PixelData and ours.NumberOfFrames == theirs.NumberOfFrames
    # negative control: the comparison sees one voxel of difference
    other = labels.copy()
    other[tuple(np.argwhere(labels == LESION)[0])] = ORGAN
    series = result.series
    seg = build_seg(series, other, segment_specs(released_engine.manifest), algorithm_identity(released_engine),
                    uid=derived_uids("streaming-equivalence"))
    changed = _comparable(pydicom.dcmread(write_seg(seg, tmp_path / "changed.dcm")))
    assert changed != _comparable(pydicom.dcmread(seg_path))


@pytest.mark.req("SRS-171")
@pytest.mark.parametrize("depth", [1, 2, 7])
def test_the_preflight_s_one_voxel_map_measures_the_same_on_its_first_slice(depth: int) -> None:
    """analyze.preflight_outputs measures only the first slice of its one-voxel label map: the
    measurements must equal the whole volume's. Control: a voxel in the last slice is not seen there."""
    spacing = (2.5, 0.7, 0.7)
    for value in (ORGAN, LESION):
        labels = np.zeros((depth, 9, 11), np.uint8)
        labels[0, 0, 0] = value
        assert measure(labels[:1], spacing, label_defs=DEMO_LABELS) == measure(labels, spacing, label_defs=DEMO_LABELS)
    if depth > 1:
        labels = np.zeros((depth, 9, 11), np.uint8)
        labels[-1, 0, 0] = LESION
        assert measure(labels[:1], spacing, label_defs=DEMO_LABELS) != measure(labels, spacing, label_defs=DEMO_LABELS)


@pytest.mark.req("SRS-171")
@pytest.mark.parametrize("seed", range(4))
def test_a_slab_labelled_in_its_box_equals_ndimage_label_of_the_whole_slab(seed: int) -> None:
    """components._label labels only the rows and columns that hold selected voxels; the labels (values,
    numbering, dtype) equal ndimage.label of the whole slab, masks touching every border included."""
    rng = np.random.default_rng(seed)
    for _ in range(150):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 24)), int(rng.integers(1, 24)))
        mask = rng.random(shape) < rng.choice([0.0, 0.01, 0.1, 0.4, 0.9])
        expected, count = ndimage.label(mask, structure=components.FULL_CONNECTIVITY)
        local, local_count = components._label(mask)
        assert local_count == count and local.dtype == expected.dtype and np.array_equal(local, expected)


@pytest.mark.req("SRS-171")
def test_a_box_one_row_short_would_lose_voxels_the_check_sees() -> None:
    """Control: labelling a box that misses the last selected row gives other labels than ndimage."""
    mask = np.zeros((2, 6, 6), bool)
    mask[0, 1, 1] = mask[1, 5, 4] = True  # a voxel on the last row
    expected, _ = ndimage.label(mask, structure=components.FULL_CONNECTIVITY)
    short = np.zeros(mask.shape, np.int32)
    short[:, 1:5, 1:5], _ = ndimage.label(mask[:, 1:5, 1:5], structure=components.FULL_CONNECTIVITY)
    assert not np.array_equal(short, expected)
    assert np.array_equal(components._label(mask)[0], expected)
