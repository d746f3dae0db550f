"""Bad-input cases of Muon's options as the field runs it (issue 49: split q/k/v, the matrices' own and cautious
weight decay, the momentum warm-up, the Polar Express coefficients): the same contract as cases.py (one line naming
the problem and the fix, nothing changed), appended to CASES in their own group ("muon") of docs/errors.md."""

from __future__ import annotations

from .case_kit import case

MUON = "transformer.optim.name=muon"
SPLIT_MLP = ["mlp.optim.name=muon", "mlp.optim.muon_split_qkv=true"]  # an MLP has no fused q/k/v matrix
NO_FUSED = r"mlp.optim.muon_split_qkv=True orthogonalises the blocks of a fused attention matrix \(q, k, v\) one by "
NO_FUSED += r"one, and this mlp model has none"
FIX_IT = r"fix it in conf/ or on the command line"  # the typed merge's own refusal (lmladder/config.py)

MUON_CASES = [
    case("muon-ns-coeffs-unknown", "muon", "transformer", [MUON, "transformer.optim.ns_coeffs=cubic"],
         r"transformer.optim.ns_coeffs='cubic'", r"choose one of jordan, polar_express", fast=True),
    case("muon-polar-express-too-many-steps", "muon", "transformer",
         [MUON, "transformer.optim.ns_coeffs=polar_express", "transformer.optim.ns_steps=8"],
         r"transformer.optim.ns_steps=8 must be <= 5 with transformer.optim.ns_coeffs='polar_express' \(its "
         r"coefficients are made for 5 steps\)",
         r"set transformer.optim.ns_steps=5, or transformer.optim.ns_coeffs=jordan for more steps"),
    case("muon-split-qkv-not-a-flag", "muon", "transformer", [MUON, "transformer.optim.muon_split_qkv=maybe"],
         r"bad value for 'transformer.optim.muon_split_qkv': Value 'maybe' is not a valid bool", FIX_IT),
    case("muon-split-qkv-no-fused-matrix", "muon", "mlp", SPLIT_MLP, NO_FUSED, r"set mlp.optim.muon_split_qkv=false"),
    case("muon-check-split-qkv-no-fused-matrix", "muon", "check", SPLIT_MLP, NO_FUSED,
         r"set mlp.optim.muon_split_qkv=false"),
    case("muon-weight-decay-negative", "muon", "transformer", [MUON, "transformer.optim.muon_weight_decay=-0.1"],
         r"transformer.optim.muon_weight_decay=-0.1", r"must be a finite number >= 0, or null \(the same as "
         r"weight_decay\)"),
    case("muon-cautious-wd-not-a-flag", "muon", "transformer", [MUON, "transformer.optim.muon_cautious_wd=often"],
         r"bad value for 'transformer.optim.muon_cautious_wd': Value 'often' is not a valid bool", FIX_IT),
    case("muon-momentum-warmup-negative", "muon", "transformer", [MUON, "transformer.optim.muon_momentum_warmup=-300"],
         r"transformer.optim.muon_momentum_warmup=-300", r"must be an integer >= 0 \(steps; 0 turns it off\)"),
    case("muon-momentum-warmup-fraction", "muon", "transformer", [MUON, "transformer.optim.muon_momentum_warmup=0.1"],
         r"bad value for 'transformer.optim.muon_momentum_warmup': Value '0.1' of type 'float' could not be "
         r"converted to Integer", FIX_IT),
]  # fmt: skip
