"""The attention call's layout (fast/attention.py): the causal bias it adds to the scores."""

import numpy as np
import pytest

from lmladder.fast import attention


@pytest.mark.parametrize("T,S", [(5, 5), (1, 7), (3, 8)])
def test_causal_bias_is_c_ordered_and_masks_the_future(T, S):
    """Key-major (S, T), 0 where query t sees key s <= t + S - T, -inf after; C order, because a Fortran-ordered
    bias added to C-ordered scores is walked with a stride of S elements (10x slower at T=256)."""
    bias = attention._causal_bias(T, S, "<f4")
    assert bias.shape == (S, T) and bias.dtype == np.float32 and bias.flags.c_contiguous
    s, t = np.indices((S, T))
    np.testing.assert_array_equal(bias, np.where(s > t + S - T, -np.inf, 0))
