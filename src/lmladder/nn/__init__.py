"""Layers, optimizers, schedules and initialisers on top of lmladder.autograd."""

from . import init
from .layers import (
    ACTIVATIONS,
    GELU,
    BatchNorm1d,
    Dropout,
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
from .optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm, decay_groups
from .schedules import Constant, LinearDecay, StepDecay, WarmupCosine, make_schedule

__all__ = [
    "init",
    "ACTIVATIONS",
    "GELU",
    "BatchNorm1d",
    "Dropout",
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
    "Optimizer",
    "clip_grad_norm",
    "decay_groups",
    "Constant",
    "LinearDecay",
    "StepDecay",
    "WarmupCosine",
    "make_schedule",
]
