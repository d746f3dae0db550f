"""Files the cases of cases_round4.py read (issue 47): under the sandbox's units/, a copy of the good run whose
units.npz has a header that asks for terabytes; a lines corpus of one 33 MiB line (prepared streaming); a run
folder with a file called dvclive in it."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np


def huge_units() -> bytes:
    """A units.npz of 300 bytes whose val_nll.npy header declares 2^40 float64 (8 TiB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z, z.open("val_nll.npy", "w") as m:
        np.lib.format.write_array_header_1_0(m, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40,)})
        m.write(bytes(64))
    return buf.getvalue()


def build_round4(root: Path) -> None:
    (root / "corpora" / "one_long_line.txt").write_bytes(b"to be or not to " * (33 << 20 >> 4) + b"\n")  # 33 MiB
    (root / "runs" / "live_blocked").mkdir(parents=True)
    (root / "runs" / "live_blocked" / "dvclive").write_text("a file where the run's live log goes\n")
    d = root / "units" / "huge_header"
    shutil.copytree(root / "runs" / "good", d)
    (d / "units.npz").write_bytes(huge_units())
