"""Layers, optimizers, schedules (`make_schedule` by name) and initialisers on top of lmladder.autograd."""

from . import init
from .layers import (
    ACTIVATIONS,
    GELU,
    BatchNorm1d,
    Dropout,
    DropPath,
    Embedding,
    FlattenConsecutive,
    LayerNorm,
    Linear,
    ReLU,
    RMSNorm,
    Tanh,
    activation,
)
from .module import Module, ModuleList, Parameter, Sequential, StateDictError
from .muon import Muon, hidden_matrices, muon_groups, newton_schulz
from .optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm, decay_groups
from .schedules import make_schedule

__all__ = [
    "init",
    "ACTIVATIONS",
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "DropPath",
    "Embedding",
    "FlattenConsecutive",
    "LayerNorm",
    "Linear",
    "ReLU",
    "RMSNorm",
    "Tanh",
    "activation",
    "Module",
    "ModuleList",
    "Parameter",
    "Sequential",
    "StateDictError",
    "SGD",
    "Adam",
    "AdamW",
    "Muon",
    "Optimizer",
    "clip_grad_norm",
    "decay_groups",
    "hidden_matrices",
    "muon_groups",
    "newton_schulz",
    "make_schedule",
]
