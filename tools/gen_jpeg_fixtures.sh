#!/usr/bin/env bash
# Regenerates hope-dicom/tests/data/dcmtk/: JPEG encodings of pydicom's CT_small.dcm (MIT) made by
# independent encoders, with the independent decoders' output beside each lossy one, so that the
# tests can check hope-dicom's JPEG decoding against a second implementation.
#
# Pinned tools (Debian 12): DCMTK 3.6.7 (`dcmtk` 3.6.7-9~deb12u4: dcmcjpeg/dcmdjpeg, IJG libjpeg 6b
# inside), libjpeg-turbo 2.1.5 (`libjpeg-turbo-progs`: cjpeg/djpeg), Python 3 with pydicom 3.0.2 and
# numpy. UIDs that DCMTK and pydicom create differ from run to run; everything else is reproducible.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="$here/hope-dicom/tests/data/pydicom/CT_small.dcm"
out="$here/hope-dicom/tests/data/dcmtk"
for t in dcmcjpeg dcmdjpeg cjpeg djpeg python3; do
    command -v $t >/dev/null || { echo "$t not found (apt-get install dcmtk libjpeg-turbo-progs)" >&2; exit 1; }
done
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Lossless, process 14 selection value 1 (1.2.840.10008.1.2.4.70) and selection value 6 (.4.57).
dcmcjpeg +e1 "$src" "$out/CT_small_jpeg_lossless_sv1.dcm"
dcmcjpeg +el +sv 6 "$src" "$out/CT_small_jpeg_lossless_sv6.dcm"
# Lossy: extended sequential 12-bit and 8-bit (.4.51), baseline 8-bit (.4.50); DCMTK rescales the
# pixel values and rewrites Rescale Slope/Intercept, so the lossy files are still in Hounsfield units.
dcmcjpeg +ee "$src" "$out/CT_small_jpeg_extended.dcm"
dcmcjpeg +ee +be "$src" "$out/CT_small_jpeg_extended_8bit.dcm"
dcmcjpeg +eb "$src" "$out/CT_small_jpeg_baseline.dcm"
# A 3-frame image, 12-bit extended, in 2 KiB fragments with an empty Basic Offset Table.
python3 "$here/tools/make_multiframe_ct.py" "$src" "$out/CT_small_3frames.dcm"
dcmcjpeg +ee +fs 2 -ot "$out/CT_small_3frames.dcm" "$out/CT_small_3frames_jpeg_extended.dcm"
# DCMTK's decoding of the lossy files, written uncompressed (explicit VR little endian).
for f in jpeg_extended jpeg_extended_8bit jpeg_baseline 3frames_jpeg_extended; do
    dcmdjpeg +te "$out/CT_small_$f.dcm" "$out/CT_small_${f}_dcmdjpeg.dcm"
done

# A plain JPEG with a restart marker every 3 blocks (libjpeg-turbo), and libjpeg-turbo's decoding
# of it with its floating-point IDCT, as an 8-bit PGM.
python3 - "$src" "$tmp/ct.pgm" <<'PY'
import sys, numpy as np, pydicom
px = pydicom.dcmread(sys.argv[1]).pixel_array.astype(np.float64)
g = np.clip((px - px.min()) / (px.max() - px.min()) * 255.0 + 0.5, 0, 255).astype(np.uint8)
with open(sys.argv[2], "wb") as f:
    f.write(b"P5\n%d %d\n255\n" % (g.shape[1], g.shape[0]) + g.tobytes())
PY
cjpeg -grayscale -quality 85 -restart 3B -outfile "$out/CT_small_restart3.jpg" "$tmp/ct.pgm"
djpeg -dct float -pnm -outfile "$out/CT_small_restart3_djpeg.pgm" "$out/CT_small_restart3.jpg"
ls -l "$out"
