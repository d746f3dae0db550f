"""The model's settings have the shape of its code (issue 71): GPTConfig stays a short list whose features of
several settings are groups, GPT.forward reads embed -> blocks -> head, and no model setting is told apart by an
"X only" comment (an option that needs another lives inside it)."""

import ast
import inspect
import re
import textwrap
from dataclasses import fields
from pathlib import Path

import lmladder
from lmladder.models import rungs
from lmladder.models.transformer import GPT, GPTConfig

MAX_GPT_FIELDS, MAX_FORWARD_LINES = 21, 15
ROOT = Path(lmladder.__file__).resolve().parents[2]


def test_gptconfig_has_at_most_21_top_level_fields():
    names = [f.name for f in fields(GPTConfig)]
    assert len(names) <= MAX_GPT_FIELDS, f"GPTConfig has {len(names)} fields: make a feature of several a group"


def test_gpt_forward_is_at_most_15_lines_besides_its_docstring():
    tree = ast.parse(textwrap.dedent(inspect.getsource(GPT.forward)))
    fn = tree.body[0]
    doc = fn.body[0]
    lines = fn.end_lineno - fn.lineno + 1 - (doc.end_lineno - doc.lineno + 1)
    assert lines <= MAX_FORWARD_LINES, f"GPT.forward is {lines} lines: move an option into embed, a block or head"
    calls = {n.func.attr for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert {"embed", "head"} <= calls  # embed -> the blocks -> head


def test_no_model_setting_is_marked_as_for_one_choice_only():
    conf = [f for rung in rungs() for f in (ROOT / "conf" / rung).glob("*.yaml")]  # the models' own conf groups
    files = [*(ROOT / "src" / "lmladder" / "models").glob("*.py"), *conf]
    found = [
        f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
        for f in files
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if re.search(r"#\s*[\w-]+ only\b", line)
    ]
    assert not found, "settings that apply to one choice belong in its group: " + "; ".join(found)
