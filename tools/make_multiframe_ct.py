"""Writes a 3-frame CT image built from pydicom's CT_small.dcm (MIT): the original frame, the same
flipped top to bottom, and transposed; placed as an NM-style multi-frame (top-level Image Position,
Spacing Between Slices). Input for tools/gen_jpeg_fixtures.sh. Needs pydicom and numpy.

usage: python3 tools/make_multiframe_ct.py CT_small.dcm OUT.dcm
"""

import sys

import numpy as np
import pydicom
from pydicom.uid import generate_uid


def main(src: str, out: str) -> None:
    ds = pydicom.dcmread(src)
    px = ds.pixel_array
    frames = np.stack([px, np.flipud(px), px.T]).astype(px.dtype)
    ds.NumberOfFrames = len(frames)
    ds.SpacingBetweenSlices = "5"
    ds.SliceThickness = "5"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["hope-rs multiframe fixture", ds.SOPInstanceUID])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PixelData = frames.tobytes()
    ds.save_as(out, enforce_file_format=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
