"""NumPy without the OpenBLAS of its wheels, as on macOS (Accelerate) or with a NumPy built on MKL: threadpoolctl,
through which lmladder looks for that OpenBLAS (fast/gemm_library.py), no longer lists it, so the lookup fails as it
does there, and the compiled kernels' GEMMs and attention give way to NumPy's matmul.

    python -m pytest -p tests.no_openblas tests/models/test_contract.py    # a pytest plugin: hidden for the run
    hide()                                                                   # or in a program, before it trains
"""

from lmladder.fast import gemm_library

_listed = gemm_library.threadpool_info


def hide() -> None:
    gemm_library.threadpool_info = lambda: [p for p in _listed() if p.get("internal_api") != "openblas"]


def pytest_configure(config) -> None:
    hide()


def pytest_report_header(config) -> str:
    from lmladder import fast

    return f"tests.no_openblas: NumPy's OpenBLAS hidden; fast.gemm() = {fast.gemm()!r}"
