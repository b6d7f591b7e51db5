"""The compiled Approach 3 objective, by its old import path: see ``tinychinchilla.fit.native``.

``tinychinchilla._native.kernel_status()`` (named in the README) and ``load_kernel()`` keep
working; the code lives in the ``fit`` package beside the numpy objective it is checked against.
"""

from .fit.native import (  # noqa: F401
    CFLAGS,
    LIBS,
    SOURCE,
    DamagedLibrary,
    NativeKernel,
    build,
    kernel_status,
    load_kernel,
    verify,
)
