"""lmladder: the language-model ladder (n-gram, MLP, GPT) on its own NumPy autograd engine."""

from .environment import check_at_import

check_at_import()  # before any module imports numba, which reads NUMBA_NUM_THREADS as it is imported

__version__ = "0.1.0"
