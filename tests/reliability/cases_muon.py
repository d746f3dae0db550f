"""Bad-input cases of Muon's options as the field runs it (optim.muon; issue 49: split q/k/v, the matrices' own and
cautious weight decay, the momentum warm-up, the Polar Express coefficients; issue 71: nested, refused under another
optimizer): the same contract as cases.py (one line naming the problem and the fix, nothing changed), appended to
CASES in their own group ("muon") of docs/errors.md."""

from __future__ import annotations

from .case_kit import case

MUON = "transformer.optim.name=muon"
SPLIT_MLP = ["mlp.optim.name=muon", "mlp.optim.muon.split_qkv=true"]  # an MLP has no fused q/k/v matrix
NO_FUSED = r"mlp.optim.muon.split_qkv=True orthogonalises the blocks of a fused attention matrix \(q, k, v\) one by "
NO_FUSED += r"one, and this mlp model has none"
FIX_IT = r"fix it in conf/ or on the command line"  # the typed merge's own refusal (lmladder/config.py)

MUON_CASES = [
    case("muon-ns-coeffs-unknown", "muon", "transformer", [MUON, "transformer.optim.muon.ns_coeffs=cubic"],
         r"transformer.optim.muon.ns_coeffs='cubic'", r"choose one of jordan, polar_express"),
    case("muon-polar-express-too-many-steps", "muon", "transformer",
         [MUON, "transformer.optim.muon.ns_coeffs=polar_express", "transformer.optim.muon.ns_steps=8"],
         r"transformer.optim.muon.ns_steps=8 must be <= 5 with transformer.optim.muon.ns_coeffs='polar_express' \(its "
         r"coefficients are made for 5 steps\)",
         r"set transformer.optim.muon.ns_steps=5, or transformer.optim.muon.ns_coeffs=jordan for more steps"),
    case("muon-split-qkv-not-a-flag", "muon", "transformer", [MUON, "transformer.optim.muon.split_qkv=maybe"],
         r"bad value for 'transformer.optim.muon.split_qkv': Value 'maybe' is not a valid bool", FIX_IT),
    case("muon-split-qkv-no-fused-matrix", "muon", "mlp", SPLIT_MLP, NO_FUSED, r"set mlp.optim.muon.split_qkv=false"),
    case("muon-check-split-qkv-no-fused-matrix", "muon", "check", SPLIT_MLP, NO_FUSED,
         r"set mlp.optim.muon.split_qkv=false"),
    case("muon-weight-decay-negative", "muon", "transformer", [MUON, "transformer.optim.muon.weight_decay=-0.1"],
         r"transformer.optim.muon.weight_decay=-0.1", r"must be a finite number >= 0, or null \(the same as "
         r"optim.weight_decay\)"),
    case("muon-cautious-wd-not-a-flag", "muon", "transformer", [MUON, "transformer.optim.muon.cautious_wd=often"],
         r"bad value for 'transformer.optim.muon.cautious_wd': Value 'often' is not a valid bool", FIX_IT),
    case("muon-momentum-warmup-negative", "muon", "transformer", [MUON, "transformer.optim.muon.momentum_warmup=-300"],
         r"transformer.optim.muon.momentum_warmup=-300", r"must be an integer >= 0 \(steps of the momentum's rise "
         r"from 0.85; 0 turns it off\)"),
    case("muon-momentum-warmup-fraction", "muon", "transformer", [MUON, "transformer.optim.muon.momentum_warmup=0.1"],
         r"bad value for 'transformer.optim.muon.momentum_warmup': Value '0.1' of type 'float' could not be "
         r"converted to Integer", FIX_IT),
    # issue 70 class 8: Muon's options under another optimizer changed nothing; now they are refused
    case("muon-option-under-adamw", "muon", "transformer", ["transformer.optim.muon.ns_coeffs=polar_express"],
         r"transformer.optim.muon.ns_coeffs='polar_express' is read with transformer.optim.name=muon only, and "
         r"transformer.optim.name='adamw': it would change nothing",
         r"set transformer.optim.name=muon, or leave it at its default \('jordan'\)"),
    case("muon-check-option-under-adamw", "muon", "check", ["pipeline=[mlp]", "mlp.optim.muon.lr=0.03"],
         r"mlp.optim.muon.lr=0.03 is read with mlp.optim.name=muon only", r"set mlp.optim.name=muon"),
    case("muon-renamed-key", "muon", "transformer", [MUON, "transformer.optim.muon_lr=0.03"],
         r"transformer.optim.muon_lr is now transformer.optim.muon.lr \(a feature's settings sit in a block of their "
         r"own, under their owner\)", r"rename it in your config", fast=True),
    case("muon-renamed-key-in-a-sweep", "muon", "transformer", ["-m", MUON, "transformer.optim.ns_steps=3,5"],
         r"transformer.optim.ns_steps is now transformer.optim.muon.ns_steps", r"rename it in your config"),
]  # fmt: skip
