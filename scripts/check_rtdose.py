#!/usr/bin/env python3
"""Independent check of an RT Dose written by hope-dicom, with pydicom (not part of the Rust suite).

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
    print(f"check_rtdose: ok ({dose.size} voxels, largest difference {err:.3g} Gy, step {step:.3g} Gy, pydicom {pydicom.__version__})")


if __name__ == "__main__":
    main()
