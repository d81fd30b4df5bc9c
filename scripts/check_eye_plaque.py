#!/usr/bin/env python3
"""Independent check of what the eye-plaque workflow writes (OUT/result): its RT Structure Set, RT
Plan and RT Dose read with pydicom (not part of the Rust suite), and with DCMTK's dcmdump where it
is installed, and their references checked: the structure set refers to the de-identified CT
series (OUT/compute/ct) and its frame of reference, the plan to the structure set, the dose to the
plan; all four share patient, study and frame of reference; the plan's seeds lie 13.7 mm from the
eye centre the workflow found (the COMS slots). Exit status 0 when everything agrees.

usage: python3 scripts/check_eye_plaque.py OUT
"""
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pydicom


def fail(msg):
    print(f"check_eye_plaque: FAIL: {msg}")
    sys.exit(1)


def main():
    out = pathlib.Path(sys.argv[1])
    result = out / "result"
    ds = {name: pydicom.dcmread(result / f"{name}.dcm") for name in ("rtstruct", "rtplan", "rtdose")}
    cts = []
    for f in sorted((out / "compute" / "ct").iterdir()):
        d = pydicom.dcmread(f, stop_before_pixels=True)
        if d.Modality == "CT":
            cts.append(d)
    if not cts:
        fail("no CT in compute/ct")
    ct = cts[0]
    expected = {"rtstruct": ("RTSTRUCT", "1.2.840.10008.5.1.4.1.1.481.3"),
                "rtplan": ("RTPLAN", "1.2.840.10008.5.1.4.1.1.481.5"),
                "rtdose": ("RTDOSE", "1.2.840.10008.5.1.4.1.1.481.2")}
    for name, (modality, sop_class) in expected.items():
        d = ds[name]
        if d.Modality != modality or d.SOPClassUID != sop_class:
            fail(f"{name}: modality {d.Modality}, SOP class {d.SOPClassUID}")
        if d.file_meta.MediaStorageSOPInstanceUID != d.SOPInstanceUID:
            fail(f"{name}: file meta and dataset SOP Instance UIDs differ")
        for kw in ("StudyInstanceUID", "PatientID", "PatientName"):
            if getattr(d, kw) != getattr(ct, kw):
                fail(f"{name}: {kw} differs from the CT's")
        if "FrameOfReferenceUID" in d and d.FrameOfReferenceUID != ct.FrameOfReferenceUID:
            fail(f"{name}: frame of reference differs from the CT's")
    s, p, dose = ds["rtstruct"], ds["rtplan"], ds["rtdose"]
    ref = s.ReferencedFrameOfReferenceSequence[0]
    if ref.FrameOfReferenceUID != ct.FrameOfReferenceUID:
        fail("rtstruct: referenced frame of reference is not the CT's")
    series = ref.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    if series.SeriesInstanceUID != ct.SeriesInstanceUID:
        fail("rtstruct: referenced series is not the CT's")
    ct_uids = {c.SOPInstanceUID for c in cts}
    images = {i.ReferencedSOPInstanceUID for i in series.ContourImageSequence} if "ContourImageSequence" in series else set()
    if images and not images <= ct_uids:
        fail("rtstruct: contour images that are not the CT's slices")
    names = [r.ROIName for r in s.StructureSetROISequence]
    for want in ("globe", "tumour", "lens"):
        if want not in names:
            fail(f"rtstruct: no ROI {want} (ROIs: {names})")
    for roi in s.ROIContourSequence:
        for c in roi.ContourSequence:
            pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            if c.ContourGeometricType != "CLOSED_PLANAR" or len(pts) != int(c.NumberOfContourPoints):
                fail("rtstruct: a contour is not a closed planar polygon of its point count")
    if p.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID != s.SOPInstanceUID:
        fail("rtplan: does not refer to the structure set")
    if dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID != p.SOPInstanceUID:
        fail("rtdose: does not refer to the plan")
    seeds = []
    for setup in p.ApplicationSetupSequence:
        for ch in setup.ChannelSequence:
            seeds.append(np.asarray(ch.BrachyControlPointSequence[0].ControlPoint3DPosition, dtype=float))
    if len(seeds) != 13:
        fail(f"rtplan: {len(seeds)} seeds, 13 expected (COMS 16 mm)")
    seeds = np.array(seeds)
    centre = seeds.mean(axis=0)
    # The seeds lie on a sphere of 13.7 mm about the eye centre: fit it.
    a = np.c_[2 * seeds, np.ones(len(seeds))]
    sol, *_ = np.linalg.lstsq(a, (seeds ** 2).sum(axis=1), rcond=None)
    radius = np.sqrt(sol[3] + sol[:3] @ sol[:3])
    if abs(radius - 13.7) > 0.1:
        fail(f"rtplan: seeds on a sphere of {radius:.2f} mm, 13.7 expected")
    kerma = float(p.SourceSequence[0].ReferenceAirKermaRate)
    if not kerma > 0:
        fail("rtplan: no air-kerma strength")
    scaled = dose.pixel_array.astype(float) * float(dose.DoseGridScaling)
    if not (scaled.max() > 85.0 and np.isfinite(scaled).all()):
        fail("rtdose: no dose above the prescription")
    if shutil.which("dcmdump"):
        for name in ds:
            r = subprocess.run(["dcmdump", "-q", str(result / f"{name}.dcm")], capture_output=True, text=True)
            if r.returncode != 0 or "E:" in r.stderr:
                fail(f"dcmdump {name}: {r.stderr.strip()[:300]}")
        dcmdump = "and dcmdump "
    else:
        dcmdump = ""
    print(f"check_eye_plaque: OK (pydicom {dcmdump}read RT Structure Set, RT Plan and RT Dose; "
          f"{len(names)} ROIs, 13 seeds on a {radius:.2f} mm sphere, {kerma:.3f} U, references consistent; "
          f"seed centroid {centre.round(1).tolist()})")


if __name__ == "__main__":
    main()
