"""Bad-input cases of the n-gram teacher (train.teacher: order, weight; issues 49 and 71): the same contract as
cases.py, appended to CASES in their own group ("teacher") of docs/errors.md."""

from __future__ import annotations

from .case_kit import case

T = "transformer.train.teacher"
ON = f"{T}.order=3"

TEACHER = [
    case("teacher-order-too-high", "teacher", "transformer", [f"{T}.order=11"],
         rf"{T}.order=11 must be an integer in \[0, 10\]", r"0 turns it off"),
    case("teacher-order-negative", "teacher", "rnn", ["rnn.train.teacher.order=-1"],
         r"rnn.train.teacher.order=-1 must be an integer in \[0, 10\]", r"0 turns it off"),
    case("teacher-order-not-an-integer", "teacher", "transformer", [f"{T}.order=five"],
         rf"bad value for '{T}.order'.*'five'", r"fix it in conf/ or on the command line"),
    case("teacher-weight-one", "teacher", "transformer", [ON, f"{T}.weight=1"],
         rf"{T}.weight=1.0 must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("teacher-weight-zero", "teacher", "transformer", [ON, f"{T}.weight=0"],
         rf"{T}.weight=0.0 must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("teacher-weight-nan", "teacher", "transformer", [ON, f"{T}.weight=nan"],
         rf"{T}.weight=nan must be in \(0, 1\)", r"must be in \(0, 1\)"),
    case("teacher-weight-without-order", "teacher", "rnn", ["rnn.train.teacher.weight=0.3"],
         r"rnn.train.teacher.weight=0.3 is read with rnn.train.teacher.order=1..10 only, and "
         r"rnn.train.teacher.order=0: it would change nothing",
         r"set rnn.train.teacher.order=1..10, or leave it at its default \(0.1\)", fast=True),
    case("teacher-last-targets", "teacher", "mlp", ["mlp.train.targets=last", "mlp.train.teacher.order=3"],
         r"mlp.train.teacher.order= mixes an n-gram teacher into the loss of every position, and "
         r"mlp.train.targets=last trains one position a row",
         r"set mlp.train.targets=all, or mlp.train.teacher.order=0"),
    case("teacher-word-vocabulary", "teacher", "transformer", [ON, "data.tokenizer=word"],
         rf"{T}.order=3 keeps a dense row of counts per context, for vocabularies of <= 1,024 tokens, "
         r"and this one has [\d,]+",
         rf"use a character tokenizer, or {T}.order=0"),
    case("teacher-renamed-order", "teacher", "transformer", ["transformer.train.teacher_order=3"],
         rf"transformer.train.teacher_order is now {T}.order \(a feature's settings sit in a block of their own",
         r"rename it in your config"),
]  # fmt: skip
