"""train.teacher (training/teacher.py): the leave-one-out n-gram teacher against a plain
re-derivation from counted dictionaries, its loss's gradient, and runs with it resuming bit for bit."""

from collections import Counter

import numpy as np
import pytest

from lmladder.autograd import Tensor
from lmladder.autograd import functional as F
from lmladder.data.errors import DataError
from lmladder.training.teacher import NgramTeacher, TeacherSettings

from .test_loop import run, straight_and_resumed


def _by_hand(tokens, V, n, context, target, leave_out):
    """The teacher's definition, from counts kept in dictionaries: interpolated absolute discounting, each order's
    discount n1 / (n1 + 2 n2) (clipped to [0.05, 0.95]; 0.5 without either), (context, target) removed from every
    order's counts."""
    tokens = [int(t) for t in tokens]
    p = np.full(V, 1 / V)
    for k in range(1, n + 1):
        grams = Counter(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))
        n1, n2 = sum(c == 1 for c in grams.values()), sum(c == 2 for c in grams.values())
        D = min(max(n1 / (n1 + 2 * n2), 0.05), 0.95) if n1 + n2 else 0.5
        if len(context) < k - 1:
            continue
        ctx = tuple(context[len(context) - (k - 1) :])
        c = np.array([grams.get((*ctx, w), 0) for w in range(V)], dtype=float)
        if leave_out and c[target] > 0:  # (a context the target never follows has nothing to leave out)
            c[target] -= 1
        if c.sum() <= 0:
            continue
        p = (np.maximum(c - D, 0) + D * np.count_nonzero(c) * p) / c.sum()
    return p


@pytest.mark.parametrize("leave_out", [True, False])
def test_each_position_matches_the_definition(leave_out):
    rng = np.random.default_rng(0)
    V, n = 5, 4
    tokens = rng.choice(V, size=600, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    teacher = NgramTeacher(tokens, V, TeacherSettings(n, 0.3))
    starts = rng.integers(0, len(tokens) - 13, 6)
    x = tokens[starts[:, None] + np.arange(12)]
    y = tokens[starts[:, None] + np.arange(12) + 1]
    y[0, 5] = 4  # a target that may not follow its context in the split (input noise makes such contexts)
    q = teacher(x, y, leave_out)
    for b in range(len(starts)):
        for t in range(12):
            want = _by_hand(tokens, V, n, list(x[b, max(0, t - n + 2) : t + 1]), y[b, t], leave_out)
            assert np.allclose(q[b, t], want, atol=2e-6), (b, t)
    assert np.allclose(q.sum(-1), 1, atol=1e-5)


def test_ignored_targets_get_no_distribution_and_unseen_contexts_fall_back():
    tokens = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3, 0], dtype=np.uint8)
    teacher = NgramTeacher(tokens, 4, TeacherSettings(3, 0.5))
    x = np.array([[3, 3, 0, 1]])  # "3 3" never occurs: the bigram and unigram orders speak for it
    y = np.array([[3, -1, 1, 2]])
    q = teacher(x, y)
    assert (q[0, 1] == 0).all() and np.allclose(q[0, [0, 2, 3]].sum(-1), 1)
    assert np.allclose(q[0, 0], _by_hand(tokens, 4, 3, [3], 3, True))
    assert np.allclose(q[0, 3], _by_hand(tokens, 4, 3, [0, 1], 2, True))


def test_the_loss_mixes_in_the_teacher_and_its_gradient_is_softmax_minus_the_mixed_target():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 6, 300)
    teacher, w = NgramTeacher(tokens, 6, TeacherSettings(3, 0.25)), 0.25
    x, y = tokens[None, 10:30], tokens[None, 11:31].copy()
    y[0, 4] = -100  # ignored: neither loss nor gradient
    logits = Tensor(rng.standard_normal((1, 20, 6)), requires_grad=True)
    loss = teacher.loss(logits, x, y, F.cross_entropy(logits, y))
    loss.backward()
    q, keep = teacher(x, y)[0], y[0] >= 0
    onehot = np.eye(6)[np.maximum(y[0], 0)]
    p = np.exp(logits.data[0]) / np.exp(logits.data[0]).sum(-1, keepdims=True)
    want = (p - (1 - w) * onehot - w * q) * keep[:, None] / keep.sum()
    assert np.allclose(logits.grad[0], want, atol=1e-6)
    logq = np.log(p[keep])
    own = -logq[np.arange(keep.sum()), y[0][keep]].mean()
    assert np.isclose(float(loss.data), (1 - w) * own - w * (q[keep] * logq).sum() / keep.sum(), atol=1e-6)


def test_a_vocabulary_too_large_for_dense_counts_is_refused():
    with pytest.raises(DataError, match="use a character tokenizer, or teacher.order=0"):
        NgramTeacher(np.arange(3000) % 2000, 2000, TeacherSettings(3, 0.1))


@pytest.mark.parametrize("data", ["tiny_names", "tiny_stream"])
def test_a_run_with_a_teacher_resumes_bit_for_bit_and_differs_from_one_without(data, request, tmp_path):
    corpus = request.getfixturevalue(data)
    straight = straight_and_resumed("transformer", corpus, tmp_path, teacher=TeacherSettings(order=4, weight=0.2))
    run("transformer", corpus, tmp_path / "plain")
    assert (tmp_path / "plain" / "train_log.tsv").read_bytes() != (straight / "train_log.tsv").read_bytes()
