#!/usr/bin/env python3
"""Independent check of an RT Dose, an RT Structure Set and an RT Plan written by hope-dicom,
with pydicom (not part of the Rust suite).

Reads OUT/rtdose.dcm with pydicom, scales its pixels by DoseGridScaling, and compares them with
OUT/dose.mhd/.raw (float32 Gy) written by the same run of examples/rtdose_export.rs; checks the
geometry attributes and that patient, study and frame of reference match the CT series in OUT/ct.
Exit status 0 when everything agrees.
"""
import pathlib
import sys

import numpy as np
import pydicom


def fail(msg):
    print(f"check_rtdose: FAIL: {msg}")
    sys.exit(1)


def mhd(path):
    fields = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition("=")
        fields[k.strip()] = v.strip()
    dims = [int(x) for x in fields["DimSize"].split()]
    data = np.fromfile(path.with_name(fields["ElementDataFile"]), dtype="<f4").reshape(dims[::-1])
    return fields, data


def main():
    out = pathlib.Path(sys.argv[1])
    ds = pydicom.dcmread(out / "rtdose.dcm")
    ct = pydicom.dcmread(sorted((out / "ct").iterdir())[0])
    if ds.SOPClassUID != "1.2.840.10008.5.1.4.1.1.481.2" or ds.Modality != "RTDOSE":
        fail("not an RT Dose instance")
    for kw in ("StudyInstanceUID", "FrameOfReferenceUID", "PatientID", "PatientName"):
        if getattr(ds, kw) != getattr(ct, kw):
            fail(f"{kw} differs from the CT's")
    if ds.SeriesInstanceUID == ct.SeriesInstanceUID:
        fail("the dose reuses the CT's Series Instance UID")
    if ds.DoseUnits != "GY" or ds.BitsAllocated != 32:
        fail("DoseUnits or BitsAllocated")
    fields, expected = mhd(out / "dose.mhd")
    dose = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    if dose.shape != expected.shape:
        fail(f"shape {dose.shape} vs {expected.shape}")
    step = float(ds.DoseGridScaling)
    err = np.abs(dose - expected.astype(np.float64)).max()
    if err > step / 2 + 1e-6 * expected.max():
        fail(f"largest difference {err} Gy exceeds half a quantisation step {step / 2}")
    origin = [float(x) for x in fields["Offset"].split()]
    spacing = [float(x) for x in fields["ElementSpacing"].split()]
    if not np.allclose([float(x) for x in ds.ImagePositionPatient], origin, atol=1e-6):
        fail("ImagePositionPatient differs from the volume's origin")
    if not np.allclose([float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])], spacing[:2], atol=1e-9):
        fail("PixelSpacing differs")
    offsets = np.array([float(x) for x in ds.GridFrameOffsetVector])
    if not np.allclose(offsets, np.arange(len(offsets)) * spacing[2], atol=1e-6):
        fail("GridFrameOffsetVector differs")
    # The RT Structure Set: a sphere of 12 mm contoured on the CT's slices, in the CT's frame.
    rs = pydicom.dcmread(out / "rtstruct.dcm")
    if rs.SOPClassUID != "1.2.840.10008.5.1.4.1.1.481.3" or rs.Modality != "RTSTRUCT":
        fail("not an RT Structure Set")
    if rs.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID != ct.FrameOfReferenceUID:
        fail("the structure set's frame is not the CT's")
    study = rs.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    if study.RTReferencedSeriesSequence[0].SeriesInstanceUID != ct.SeriesInstanceUID:
        fail("the structure set does not refer to the CT series")
    roi = rs.StructureSetROISequence[0]
    contours = rs.ROIContourSequence[0].ContourSequence
    if roi.ROIName != "sphere" or list(rs.ROIContourSequence[0].ROIDisplayColor) != [255, 0, 0]:
        fail("ROI name or colour")
    for c in contours:
        pts = np.array([float(x) for x in c.ContourData]).reshape(-1, 3)
        if c.ContourGeometricType != "CLOSED_PLANAR" or len(pts) != int(c.NumberOfContourPoints):
            fail("contour type or point count")
        r = np.hypot(pts[:, 0], pts[:, 1])
        want = np.sqrt(144.0 - pts[0, 2] ** 2)
        if np.abs(r - want).max() > 1e-6 or np.ptp(pts[:, 2]) > 1e-9:
            fail(f"contour at z = {pts[0, 2]} is not the sphere's circle")
    # The RT Plan: three I-125 seeds of 0.5 U, fixed, referring to the structure set.
    plan = pydicom.dcmread(out / "rtplan.dcm")
    if plan.SOPClassUID != "1.2.840.10008.5.1.4.1.1.481.5" or plan.Modality != "RTPLAN":
        fail("not an RT Plan")
    if plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID != rs.SOPInstanceUID:
        fail("the plan does not refer to the structure set")
    source = plan.SourceSequence[0]
    if source.SourceIsotopeName != "I-125" or float(source.ReferenceAirKermaRate) != 0.5:
        fail("source isotope or strength")
    channels = plan.ApplicationSetupSequence[0].ChannelSequence
    xs = sorted(float(ch.BrachyControlPointSequence[0].ControlPoint3DPosition[0]) for ch in channels)
    if xs != [-5.0, 0.0, 5.0] or any(ch.SourceMovementType != "FIXED" for ch in channels):
        fail(f"seed positions {xs}")
    if plan.StudyInstanceUID != ct.StudyInstanceUID or plan.FrameOfReferenceUID != ct.FrameOfReferenceUID:
        fail("the plan is not in the CT's study and frame")
    print(f"check_rtdose: structure set ({len(contours)} contours) and plan ({len(channels)} seeds) read back")
    print(f"check_rtdose: ok ({dose.size} voxels, largest difference {err:.3g} Gy, step {step:.3g} Gy, pydicom {pydicom.__version__})")


if __name__ == "__main__":
    main()
