#!/usr/bin/env python3
"""Known-answer vectors for the hope-crypto container format, versions 1 and 2.

An independent implementation of the byte-level specification in
hope-crypto/src/container.rs (module docs), written against the Python `cryptography`
package (AESGCM, HKDF-SHA256), so that the Rust implementation is checked against the
specification and not against itself. Writes hope-crypto/tests/data/container_v1_kat.json
(version 1, still read: every container in full) and container_v2_kat.json (version 2, written).

    python3 tools/crypto_kat.py        # needs: pip install cryptography (tested with 48.0.0)

CI never runs this; the Rust test `known_answer_vectors` reads the committed JSON.
"""
import hashlib
import hmac
import json
import pathlib
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"HOPE-ENC"
TAG = 16


def commitment(key, key_id, version):
    return hmac.new(key, b"HOPE-rs key commitment v1" + key_id + struct.pack(">I", version), hashlib.sha256).digest()


def header(fmt, seg, key_id, version, salt, prefix, commit, binding=b""):
    h = MAGIC + bytes([fmt, 1, 0, 0]) + struct.pack(">I", seg) + key_id + struct.pack(">I", version) + salt + prefix + commit + binding
    assert len(h) == (107 if fmt == 1 else 139)
    return h


def object_binding(key, object_id):
    return hmac.new(key, b"HOPE-rs object id v2" + object_id, hashlib.sha256).digest()


def seal(fmt, key, key_id, version, object_id, seg, salt, prefix, plaintext):
    if fmt == 1:
        h = header(1, seg, key_id, version, salt, prefix, commitment(key, key_id, version))
        info = b"HOPE-rs segment key v1" + struct.pack(">I", len(object_id)) + object_id + hashlib.sha256(h).digest()
    else:
        h = header(2, seg, key_id, version, salt, prefix, commitment(key, key_id, version),
                   object_binding(key, object_id))
        info = b"HOPE-rs segment key v2" + hashlib.sha256(h).digest()
    seg_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)
    aead = AESGCM(seg_key)
    chunks = [plaintext[i:i + seg] for i in range(0, len(plaintext), seg)] or [b""]
    out = bytearray(h)
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        nonce = prefix + struct.pack(">I", i) + bytes([1 if last else 0])
        out += aead.encrypt(nonce, chunk, h)  # ciphertext || tag
    return bytes(out)


def pattern(n):
    return bytes((i * 131 + 7) % 256 for i in range(n))


def vectors(fmt):
    cases = []
    for name, length, seg in [("empty", 0, 4096), ("one-byte", 1, 4096), ("one-full-segment", 4096, 4096),
                              ("three-segments", 2 * 4096 + 100, 4096), ("default-segment", 70000, 65536)]:
        key = bytes(range(32))
        key_id = bytes(range(0xa0, 0xb0))
        version = 3
        object_id = b"2.25.329800735698586629295641978511506172918"
        salt = hashlib.sha256(b"salt " + name.encode()).digest()
        prefix = hashlib.sha256(b"prefix " + name.encode()).digest()[:7]
        pt = pattern(length)
        ct = seal(fmt, key, key_id, version, object_id, seg, salt, prefix, pt)
        cases.append({
            "name": name, "key": key.hex(), "key_id": key_id.hex(), "key_version": version,
            "object_id": object_id.decode(), "segment_size": seg, "salt": salt.hex(), "nonce_prefix": prefix.hex(),
            "plaintext_len": length, "plaintext_pattern": "byte i = (i * 131 + 7) mod 256",
            "container_len": len(ct), "container_sha256": hashlib.sha256(ct).hexdigest(),
            # Version 1 is only read now: its containers are given whole.
            "container_hex": ct.hex() if (fmt == 1 or len(ct) <= 300) else None,
        })
    return cases


def main():
    for fmt in (1, 2):
        cases = vectors(fmt)
        out = pathlib.Path(__file__).resolve().parent.parent / f"hope-crypto/tests/data/container_v{fmt}_kat.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"source": f"tools/crypto_kat.py: independent Python implementation (cryptography 48.0.0) of the v{fmt} spec",
               "cases": cases}
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
