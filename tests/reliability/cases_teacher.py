"""Bad-input cases of the n-gram teacher (train.teacher_order, train.teacher_weight; issue 49): the same contract as
cases.py, appended to CASES in their own group ("teacher") of docs/errors.md."""

from __future__ import annotations

from .case_kit import case

T = "transformer.train"
ON = (f"{T}.teacher_order=3", f"{T}.teacher_weight=0.2")

TEACHER = [
    case("teacher-order-too-high", "teacher", "transformer", [f"{T}.teacher_order=11", f"{T}.teacher_weight=0.2"],
         rf"{T}.teacher_order=11 must be an integer in \[0, 10\]", r"0 turns it off", fast=True),
    case("teacher-order-negative", "teacher", "rnn", ["rnn.train.teacher_order=-1", "rnn.train.teacher_weight=0.2"],
         r"rnn.train.teacher_order=-1 must be an integer in \[0, 10\]", r"0 turns it off"),
    case("teacher-order-not-an-integer", "teacher", "transformer", [f"{T}.teacher_order=five"],
         rf"bad value for '{T}.teacher_order'.*'five'", r"fix it in conf/ or on the command line"),
    case("teacher-weight-one", "teacher", "transformer", [f"{T}.teacher_order=3", f"{T}.teacher_weight=1"],
         rf"{T}.teacher_weight=1.0 must be in \[0, 1\)", r"must be in \[0, 1\)", fast=True),
    case("teacher-weight-nan", "teacher", "transformer", [f"{T}.teacher_order=3", f"{T}.teacher_weight=nan"],
         rf"{T}.teacher_weight=nan must be in \[0, 1\)", r"must be in \[0, 1\)"),
    case("teacher-order-without-weight", "teacher", "transformer", [f"{T}.teacher_order=3"],
         rf"{T}.teacher_order=3 needs {T}.teacher_weight= as well \(it is 0\)",
         rf"set {T}.teacher_order= in \[1, 10\] and {T}.teacher_weight= in \(0, 1\) together, or both to 0",
         fast=True),
    case("teacher-weight-without-order", "teacher", "rnn", ["rnn.train.teacher_weight=0.3"],
         r"rnn.train.teacher_weight=0.3 needs rnn.train.teacher_order= as well \(it is 0\)",
         r"or both to 0"),
    case("teacher-last-targets", "teacher", "mlp",
         ["mlp.train.targets=last", "mlp.train.teacher_order=3", "mlp.train.teacher_weight=0.2"],
         r"mlp.train.teacher_order= mixes an n-gram teacher into the loss of every position, and "
         r"mlp.train.targets=last trains one position a row",
         r"set mlp.train.targets=all, or mlp.train.teacher_order=0 and mlp.train.teacher_weight=0"),
    case("teacher-word-vocabulary", "teacher", "transformer", [*ON, "data.tokenizer=word"],
         rf"{T}.teacher_order=3 keeps a dense row of counts per context, for vocabularies of <= 1,024 tokens, "
         r"and this one has [\d,]+",
         rf"use a character tokenizer, or {T}.teacher_order=0"),
]  # fmt: skip
