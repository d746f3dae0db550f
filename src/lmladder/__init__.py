"""lmladder: the language-model ladder (n-gram, MLP, GPT) on its own NumPy autograd engine."""

__version__ = "0.1.0"
