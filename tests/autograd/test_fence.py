"""The speed layer is fenced off from the readable core: dependencies run one way, ops -> kernels -> NumPy.

The kernel modules (chunked NumPy code and the array pool) import NumPy, the standard library and each other,
never an op module, the engine or the functional API."""

import ast
from pathlib import Path

import lmladder.autograd

AUTOGRAD = Path(lmladder.autograd.__file__).parent
KERNELS = {"kernels", "kernels_jit", "kernels_blas", "attention_core", "memory"}


def _local_imports(module: str) -> set[str]:
    """The lmladder.autograd modules that autograd/<module>.py imports."""
    found = set()
    for node in ast.walk(ast.parse((AUTOGRAD / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmladder"):
            found.add(node.module.rsplit(".", 1)[-1])
    return found


def test_kernels_never_import_an_op_module():
    for module in sorted(KERNELS):
        outside = _local_imports(module) - KERNELS
        assert not outside, f"autograd/{module}.py imports {sorted(outside)}; kernels may import only {sorted(KERNELS)}"


def test_the_check_sees_an_import():
    assert "memory" in _local_imports("kernels") and "kernels" in _local_imports("attention_core")


PLAIN = {"ops_elementwise", "ops_reduce", "ops_shape"}


def test_the_plain_primitives_never_touch_the_pool():
    """The array pool is the speed layer's (memory.py's rule): the plain primitives stay micrograd-plain NumPy."""
    for module in sorted(PLAIN):
        assert "memory" not in _local_imports(module), f"autograd/{module}.py uses the pool; see memory.py's rule"
