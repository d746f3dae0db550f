"""fast's gradient sums copy a leaf's gradient only where it may be aliased: a view, a read-only array, or an array
stored for two tensors in this pass; a new array at a dead one's address is none of these."""

import numpy as np

from lmladder.autograd import Tensor
from lmladder.fast.gradients import PooledGradients


def leaf(n=4):
    return Tensor(np.zeros(n, np.float32), requires_grad=True)


def test_an_array_stored_for_two_tensors_is_copied_before_it_becomes_a_leafs_grad():
    root, a, b = leaf(), leaf(), leaf()
    sums = PooledGradients(root, np.ones(4, np.float32))
    g = np.full(4, 2, np.float32)
    sums.add(a, g)
    sums.add(b, g)  # Add's backward hands one array to both inputs
    sums.accumulate_leaf(a, sums.pop(a))
    sums.accumulate_leaf(b, sums.pop(b))
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    np.testing.assert_array_equal(a.grad, b.grad)


def test_a_new_array_at_a_dead_ones_address_is_not_taken_for_it():
    """CPython hands a freed object's memory to the next object of its size, so a fresh gradient often has the id of
    one that died earlier in the pass: that array is stored nowhere, and the fresh one is the leaf's own."""
    root, first, second = leaf(), leaf(), leaf()
    sums = PooledGradients(root, np.ones(4, np.float32))
    for _ in range(100):  # until the allocator reuses the address (almost always the first try)
        g = np.full(4, 2, np.float32)
        dead = id(g)
        sums.add(first, g)
        sums.add(second, g)  # stored twice, so shared
        sums.pop(first)
        sums.pop(second)
        del g  # dead: stored nowhere now
        fresh = np.full(4, 3, np.float32)
        if id(fresh) == dead:
            break
    assert id(fresh) == dead, "the allocator never reused the address in 100 tries"
    owner = leaf()
    sums.add(owner, fresh)
    sums.accumulate_leaf(owner, sums.pop(owner))
    assert owner.grad is fresh  # handed once: kept as it is, not copied
