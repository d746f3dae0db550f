"""The diff page in a real browser (headless Chromium, Debian's `chromium` package): it loads with no console error,
its script colours every character (the DOM after load holds one span per character), and its screenshot is not
blank; on a 100,000-character text too. Skipped where no Chromium is installed."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from lmladder import cli
from lmladder.checkpoints import save_training_checkpoint
from lmladder.data import load_prepared, load_text, prepare_corpus
from lmladder.models import for_data, rung_class
from lmladder.training import make_rngs

from .shared_data import shared_file

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(BROWSER is None, reason="no Chromium (apt install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def browse(page, *extra):
    r = subprocess.run([BROWSER, *FLAGS, *extra, page.as_uri()], capture_output=True, text=True, timeout=300)
    errors = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln and re.search(r"error|uncaught", ln, re.I)]
    return r, errors


def diff_page(tmp_path, chars: int):
    """A diff of a bigram and a 4-gram on the first `chars` characters of Tiny Shakespeare's val split."""
    text = load_text("file", path=shared_file("tinyshakespeare.txt"))
    prepare_corpus(text, kind="stream", tokenizer="char", out_dir=tmp_path / "prepared")
    data = load_prepared(tmp_path / "prepared")
    (tmp_path / "val.txt").write_text(data.tokenizer.decode(np.asarray(data.splits["val"][:chars])), encoding="utf-8")
    cls = rung_class("bigram")
    for order in (2, 4):
        model = cls(for_data(cls.Config(order=order, smoothing="add_k", k=0.1), data), rng=np.random.default_rng(0))
        model.fit(np.asarray(data.splits["train"]))
        save_training_checkpoint(tmp_path / f"o{order}.safetensors", model, data.tokenizer, rngs=make_rngs(0))
    out = tmp_path / "diff"
    args = ["diff", str(tmp_path / "o2.safetensors"), str(tmp_path / "o4.safetensors"), "--text"]
    assert cli.main([*args, str(tmp_path / "val.txt"), "--out", str(out)]) == 0
    return out / "index.html"


@pytest.mark.parametrize("chars", [3_000, 100_000])
def test_the_page_loads_without_errors_and_colours_every_character(chars, tmp_path):
    page = diff_page(tmp_path, chars)
    r, errors = browse(page, "--dump-dom")
    assert r.returncode == 0 and not errors, errors or r.stderr[-2000:]
    assert len(re.findall(r'<span id="c\d+"', r.stdout)) == chars  # the script ran to the end
    data = json.loads(re.search(r"<script id='data' type='application/json'>(.*?)</script>", page.read_text(),
                                re.S).group(1))  # fmt: skip
    assert len(data["text"]) == chars
    shot = tmp_path / "shot.png"
    r, errors = browse(page, f"--screenshot={shot}", "--window-size=1100,1400")
    assert not errors and shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text, tables and the diverging colours: not a blank page


def test_a_text_that_opens_scripts_and_comments_still_builds_the_page(tmp_path):
    """`<!--<script>` in the text once put the data block into HTML's double-escaped script state: it never closed,
    swallowed page.js, and the page showed nothing."""
    from .test_diff_bounds import DATA_OPEN, HOSTILE

    speech = load_text("file", path=shared_file("tinyshakespeare.txt"))[:3000]
    text = speech + HOSTILE * 3 + speech[:500]  # in the training split: every character in the vocabulary
    prepare_corpus(text, kind="stream", tokenizer="char", out_dir=tmp_path / "prepared")
    data = load_prepared(tmp_path / "prepared")
    cls = rung_class("bigram")
    for order in (2, 3):
        model = cls(for_data(cls.Config(order=order, smoothing="add_k", k=0.1), data), rng=np.random.default_rng(0))
        model.fit(np.asarray(data.splits["train"]))
        save_training_checkpoint(tmp_path / f"o{order}.safetensors", model, data.tokenizer, rngs=make_rngs(0))
    (tmp_path / "hostile.txt").write_text(text, encoding="utf-8")
    args = ["diff", str(tmp_path / "o2.safetensors"), str(tmp_path / "o3.safetensors"), "--text"]
    assert cli.main([*args, str(tmp_path / "hostile.txt"), "--out", str(tmp_path / "diff")]) == 0
    page = tmp_path / "diff" / "index.html"
    r, errors = browse(page, "--dump-dom")
    assert r.returncode == 0 and not errors, errors or r.stderr[-2000:]
    assert len(re.findall(r'<span id="c\d+"', r.stdout)) == len(text)  # page.js ran, over the whole text
    source = page.read_text(encoding="utf-8")
    start = source.index(DATA_OPEN) + len(DATA_OPEN)
    assert json.loads(source[start : source.index("</script>", start)])["text"] == text
