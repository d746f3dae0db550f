"""Gradient-check cases for every registered primitive (keyed by Function class name) and every composite.

Adding an op: add its Function subclass, then a list of cases here;
test_every_registered_op_has_a_gradcheck_case fails otherwise.
A case is (label, fn, inputs): fn takes Tensors in the order of `inputs`; integer inputs carry no gradient.
"""

import numpy as np

from lmladder.autograd import functional as F
from lmladder.autograd import ops_elementwise as E
from lmladder.autograd import ops_nn as N
from lmladder.autograd import ops_reduce as R
from lmladder.autograd import ops_shape as S

rng = np.random.default_rng(1234)


def r(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away0(*shape):
    """Values with |x| >= 0.2, so kinks (relu at 0) are never inside the finite-difference step."""
    x = rng.uniform(0.2, 2.0, shape)
    return x * rng.choice([-1.0, 1.0], shape)


# Shape pairs every binary elementwise op is checked on: equal, broadcast row, trailing vector, scalar x matrix.
BINARY_SHAPES = [
    ((2, 2), (2, 2)),
    ((3, 3), (3, 3)),
    ((3, 2), (1, 2)),
    ((3, 2), (2,)),
    ((), (3, 2)),
    ((2, 1, 3), (4, 1)),
]


def binary(fn, right=r):
    return [(f"{a}x{b}", fn, [r(*a), right(*b)]) for a, b in BINARY_SHAPES]


def unary(fn, gen=r):
    return [(str(s), fn, [gen(*s)]) for s in [(2, 2), (3, 3), (2, 3, 4)]]


ATT_RNG = np.random.default_rng(7)
BN_MASK = np.array([[True, True, False], [False, True, True]])  # (2, 3) rows that count for batch statistics
BN_RUNNING = (ATT_RNG.standard_normal(2), ATT_RNG.uniform(0.5, 2.0, 2))  # fixed running mean and variance

CONV_BEFORE = np.linspace(-1, 1, 12).reshape(2, 3, 2)  # a cache's last 3 inputs: fixed, not a gradcheck input

PRIMITIVE_CASES = {
    "Add": binary(lambda a, b: a + b),
    "Sub": binary(lambda a, b: a - b),
    "Mul": binary(lambda a, b: a * b),
    "Div": binary(lambda a, b: a / b, right=pos),
    "Neg": unary(lambda a: -a),
    "Pow": unary(lambda a: a**3) + unary(lambda a: a**-0.5, gen=pos) + unary(lambda a: a**2.5, gen=pos),
    "Exp": unary(lambda a: a.exp()),
    "Log": unary(lambda a: a.log(), gen=pos),
    "Tanh": unary(lambda a: a.tanh()),
    "Relu": unary(lambda a: a.relu(), gen=away0),
    "Sigmoid": unary(lambda a: a.sigmoid()) + [("large", lambda a: a.sigmoid(), [np.array([-30.0, -3, 0.5, 30])])],
    "Erf": unary(E.erf),
    "MatMul": [
        ("2x2", lambda a, b: a @ b, [r(2, 2), r(2, 2)]),
        ("3x3", lambda a, b: a @ b, [r(3, 3), r(3, 3)]),
        ("2d", lambda a, b: a @ b, [r(3, 4), r(4, 2)]),
        ("batched", lambda a, b: a @ b, [r(2, 3, 4), r(2, 4, 5)]),
        ("batch x 2d", lambda a, b: a @ b, [r(2, 3, 4), r(4, 5)]),
        ("broadcast batch", lambda a, b: a @ b, [r(2, 1, 3, 4), r(3, 4, 2)]),
        ("2d x batch", lambda a, b: a @ b, [r(3, 4), r(2, 4, 5)]),
    ],
    "Sum": [
        ("all", lambda a: a.sum(), [r(3, 3)]),
        ("axis0", lambda a: a.sum(axis=0), [r(3, 2)]),
        ("axis-1 keep", lambda a: a.sum(axis=-1, keepdims=True), [r(2, 3, 4)]),
        ("axes", lambda a: a.sum(axis=(0, 2)), [r(2, 3, 4)]),
    ],
    "Mean": [
        ("all", lambda a: a.mean(), [r(2, 2)]),
        ("axis1", lambda a: a.mean(axis=1), [r(3, 3)]),
        ("keep", lambda a: a.mean(axis=(0, 1), keepdims=True), [r(2, 3, 4)]),
    ],
    "CumSum": [
        ("axis-1", lambda a: R.cumsum(a), [r(2, 3)]),
        ("axis1 3d", lambda a: R.cumsum(a, axis=1), [r(2, 4, 3)]),
        ("causal mean", lambda a: F.causal_mean(a), [r(2, 4, 3)]),
    ],
    "Max": [
        ("all", lambda a: a.max(), [r(3, 3)]),
        ("axis0", lambda a: a.max(axis=0), [r(2, 2)]),
        ("keep", lambda a: a.max(axis=-1, keepdims=True), [r(2, 3, 4)]),
    ],
    "Reshape": [("flat", lambda a: a.reshape(-1), [r(2, 3)]), ("3d", lambda a: a.reshape(3, 1, 2), [r(2, 3)])],
    "Permute": [
        ("T", lambda a: a.T, [r(2, 3)]),
        ("3d", lambda a: a.permute(2, 0, 1), [r(2, 3, 4)]),
        ("swap", lambda a: a.transpose(1, 2), [r(2, 3, 4)]),
    ],
    "GetItem": [
        ("slice", lambda a: a[1:, ::2], [r(3, 4)]),
        ("int", lambda a: a[1], [r(3, 3)]),
        ("int array repeated", lambda a: a[np.array([0, 2, 0, 0])], [r(3, 2)]),
        ("2d index", lambda a: a[np.array([[1, 1], [0, 2]])], [r(3, 2)]),
        ("pairs", lambda a: a[np.array([0, 1, 1]), np.array([2, 0, 0])], [r(2, 3)]),
        ("bool mask", lambda a: a[np.array([True, False, True])], [r(3, 2)]),
    ],
    "Concat": [
        ("axis0", lambda a, b: S.concat([a, b], axis=0), [r(2, 2), r(1, 2)]),
        ("axis-1", lambda a, b, c: S.concat([a, b, c], axis=-1), [r(3, 1), r(3, 3), r(3, 2)]),
    ],
    "Stack": [
        ("axis0", lambda a, b: S.stack([a, b]), [r(2, 2), r(2, 2)]),
        ("axis-1", lambda a, b, c: S.stack([a, b, c], axis=-1), [r(3, 3), r(3, 3), r(3, 3)]),
    ],
    "Where": [
        ("same", lambda a, b: S.where(np.array([[True, False], [False, True]]), a, b), [r(2, 2), r(2, 2)]),
        ("broadcast", lambda a, b: S.where(np.array([True, False]), a, b), [r(3, 2), r(1, 2)]),
        (
            "3x3",
            lambda a, b: S.where(np.eye(3, dtype=bool), a, b),
            [
                r(3, 3),
                r(
                    3,
                ),
            ],
        ),
    ],
    "MaskedFill": [
        ("2x2", lambda a: a.masked_fill(np.array([[True, False], [False, False]]), 0.0), [r(2, 2)]),
        ("broadcast mask", lambda a: a.masked_fill(np.array([False, True, False]), -5.0), [r(3, 3)]),
    ],
    "Softmax": unary(lambda a: F.softmax(a)) + [("axis0", lambda a: F.softmax(a, axis=0), [r(3, 4)])],
    "LogSoftmax": unary(lambda a: F.log_softmax(a)) + [("axis0", lambda a: F.log_softmax(a, axis=0), [r(3, 4)])],
    "CrossEntropy": [
        ("mean", lambda a: F.cross_entropy(a, np.array([0, 2, 1])), [r(3, 3)]),
        ("sum 3d", lambda a: F.cross_entropy(a, np.array([[0, 1], [3, 3]]), reduction="sum"), [r(2, 2, 4)]),
        ("none", lambda a: F.cross_entropy(a, np.array([1, 0]), reduction="none"), [r(2, 2)]),
        ("ignore", lambda a: F.cross_entropy(a, np.array([1, -100, 2, 0]), ignore_index=-100), [r(4, 3)]),
    ],
    "LayerNorm": [
        ("affine", lambda x, w, b: F.layer_norm(x, w, b), [r(3, 4), r(4), r(4)]),
        ("no bias 3d", lambda x, w: F.layer_norm(x, w), [r(2, 3, 5), r(5)]),
        ("plain", lambda x: F.layer_norm(x), [r(2, 2)]),
    ],
    "RMSNorm": [
        ("2d", lambda x, w: F.rms_norm(x, w), [r(3, 4), r(4)]),
        ("3d", lambda x, w: F.rms_norm(x, w), [r(2, 3, 3), r(3)]),
    ],
    # training mode: the statistics of the batch (or of the masked rows) carry gradient; evaluation: an affine map
    "BatchNorm": [
        ("train 2d", lambda x, w, b: F.batch_norm(x, w, b), [r(4, 3), r(3), r(3)]),
        ("train 3d", lambda x, w, b: F.batch_norm(x, w, b), [r(2, 3, 2), r(2), r(2)]),
        ("train 2x2", lambda x, w, b: F.batch_norm(x, w, b), [r(2, 2), r(2), r(2)]),
        ("train masked", lambda x, w, b: F.batch_norm(x, w, b, mask=BN_MASK), [r(2, 3, 2), r(2), r(2)]),
        (
            "train masked 4d",
            lambda x, w, b: F.batch_norm(x, w, b, mask=BN_MASK[:, :, None]),
            [r(2, 3, 2, 2), r(2), r(2)],
        ),
        ("eval", lambda x, w, b: F.batch_norm(x, w, b, BN_RUNNING, training=False), [r(3, 2), r(2), r(2)]),
    ],
    "GeluTanh": unary(lambda a: F.gelu(a, "tanh")),
    "GeluErf": unary(lambda a: F.gelu(a, "none")),
    "Linear": [
        ("bias", lambda x, w, b: F.linear(x, w, b), [r(3, 4), r(2, 4), r(2)]),
        ("no bias 3d", lambda x, w: F.linear(x, w), [r(2, 3, 4), r(5, 4)]),
        ("2x2", lambda x, w, b: F.linear(x, w, b), [r(2, 2), r(2, 2), r(2)]),
    ],
    "Embedding": [
        ("repeated ids", lambda w: F.embedding(np.array([0, 2, 2, 1, 2]), w), [r(3, 4)]),
        ("2d ids", lambda w: F.embedding(np.array([[0, 1], [1, 1]]), w), [r(2, 3)]),
    ],
    # dropout: the mask comes from a fresh, fixed-seed Generator on each call, so finite differences see one mask
    "Dropout": [
        ("p0.5", lambda a: F.dropout(a, 0.5, np.random.default_rng(3)), [r(3, 3)]),
        ("p0.1", lambda a: F.dropout(a, 0.1, np.random.default_rng(4)), [r(2, 4)]),
    ],
    "Attention": [
        (
            "causal",
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
            [r(2, 2, 3, 4), r(2, 2, 3, 4), r(2, 2, 3, 4)],
        ),
        (
            "full",
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=False),
            [r(1, 2, 3, 2), r(1, 2, 3, 2), r(1, 2, 3, 2)],
        ),
        (
            "kv longer",
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
            [r(1, 1, 2, 3), r(1, 1, 4, 3), r(1, 1, 4, 3)],
        ),
        (
            "dropout",
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=np.random.default_rng(5)),
            [r(1, 2, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)],
        ),
    ],
    "AttentionQKV": [
        ("2 heads", lambda x: F.causal_self_attention(x, 2), [r(2, 3, 12)]),
        ("1 head T1", lambda x: F.causal_self_attention(x, 1), [r(2, 1, 6)]),
        ("dropout", lambda x: F.causal_self_attention(x, 2, 0.3, np.random.default_rng(5)), [r(1, 4, 6)]),
    ],
    # the modern transformer's primitives (ops_transformer.py)
    "ModernQKV": [
        ("qk-norm + rope", lambda x: F.modern_qkv(x, None, 2, 2, qk_norm=True, rope_base=10000.0), [r(2, 3, 24)]),
        ("rope from 5, base 100", lambda x: F.modern_qkv(x, None, 3, 3, rope_base=100.0, start=5), [r(1, 2, 18)]),
        ("gqa 2 groups + ve", lambda x, ve: F.modern_qkv(x, ve, 4, 2, qk_norm=True), [r(2, 3, 24), r(2, 3, 6)]),
        (
            "1 kv head, all",
            lambda x, ve: F.modern_qkv(x, ve, 3, 1, qk_norm=True, rope_base=1e4),
            [r(1, 2, 20), r(1, 2, 4)],
        ),
    ],
    "ReluSquared": unary(lambda a: F.relu2(a), gen=away0),
    "ValueResidual": [
        ("3C = 12", lambda qkv, v1, lam: F.value_residual(qkv, v1, lam), [r(2, 3, 12), r(2, 3, 4), r(1)]),
        ("T 1", lambda qkv, v1, lam: F.value_residual(qkv, v1, lam), [r(1, 1, 6), r(1, 1, 2), r(1)]),
    ],
    "CausalConv": [
        ("kernel 3", lambda x, w: F.causal_conv(x, w, 3), [r(2, 5, 3), r(9)]),
        ("kernel 4 from a cache", lambda x, w: F.causal_conv(x, w, 4, before=CONV_BEFORE), [r(2, 2, 2), r(4, 2)]),
        ("kernel past T", lambda x, w: F.causal_conv(x, w, 4), [r(1, 1, 2), r(8)]),
    ],
    # recurrent cells: a batch state, and the (1, S) start state a batch shares
    "RNNCell": [
        ("batch", lambda x, h, w, b: F.rnn_cell(x, h, w, b), [r(3, 4), r(3, 4), r(4, 4), r(4)]),
        ("start", lambda x, h, w, b: F.rnn_cell(x, h, w, b), [r(2, 3), r(1, 3), r(3, 3), r(3)]),
    ],
    "GRUCell": [
        ("batch", lambda x, h, w, b: F.gru_cell(x, h, w, b), [r(3, 12), r(3, 4), r(12, 4), r(12)]),
        ("start", lambda x, h, w, b: F.gru_cell(x, h, w, b), [r(2, 9), r(1, 3), r(9, 3), r(9)]),
    ],
    "LSTMCell": [
        ("batch", lambda x, s, w, b: F.lstm_cell(x, s, w, b), [r(3, 16), r(3, 8), r(16, 4), r(16)]),
        ("start", lambda x, s, w, b: F.lstm_cell(x, s, w, b), [r(2, 12), r(1, 6), r(12, 3), r(12)]),
    ],
}

COMPOSITE_CASES = {
    "softmax_composite": unary(lambda a: F.softmax_composite(a)),
    "log_softmax_composite": unary(lambda a: F.log_softmax_composite(a)),
    "cross_entropy_composite": [
        ("mean", lambda a: F.cross_entropy_composite(a, np.array([0, 2, 1])), [r(3, 3)]),
        ("ignore", lambda a: F.cross_entropy_composite(a, np.array([1, -100, 0])), [r(3, 2)]),
    ],
    "gelu_tanh_composite": unary(F.gelu_tanh_composite),
    "gelu_erf_composite": unary(F.gelu_erf_composite),
    "layer_norm_composite": [("affine", lambda x, w, b: F.layer_norm_composite(x, w, b), [r(3, 4), r(4), r(4)])],
    "batch_norm_composite": [
        ("3d", lambda x, w, b: F.batch_norm_composite(x, w, b), [r(2, 3, 2), r(2), r(2)]),
        ("masked", lambda x, w, b: F.batch_norm_composite(x, w, b, mask=BN_MASK), [r(2, 3, 2), r(2), r(2)]),
    ],
    "rms_norm_composite": [("2d", lambda x, w: F.rms_norm_composite(x, w), [r(3, 4), r(4)])],
    "linear_composite": [("bias", lambda x, w, b: F.linear_composite(x, w, b), [r(2, 3, 4), r(2, 4), r(2)])],
    "embedding_composite": [("repeated", lambda w: F.embedding_composite(np.array([1, 1, 0]), w), [r(2, 3)])],
    "mean_composite": [("axis", lambda a: F.mean_composite(a, axis=1), [r(3, 3)])],
    "attention_composite": [
        ("causal", lambda q, k, v: F.attention_composite(q, k, v), [r(1, 2, 3, 2), r(1, 2, 3, 2), r(1, 2, 3, 2)])
    ],
    "rnn_cell_composite": [("batch", F.rnn_cell_composite, [r(3, 4), r(3, 4), r(4, 4), r(4)])],
    "gru_cell_composite": [("start", F.gru_cell_composite, [r(2, 9), r(1, 3), r(9, 3), r(9)])],
    "lstm_cell_composite": [("batch", F.lstm_cell_composite, [r(3, 16), r(3, 8), r(16, 4), r(16)])],
    "causal_self_attention_composite": [
        ("2 heads", lambda x: F.causal_self_attention_composite(x, 2), [r(1, 3, 12)]),
    ],
}

# keep the module-level names referenced so linters see them used
_ = (R, N)
