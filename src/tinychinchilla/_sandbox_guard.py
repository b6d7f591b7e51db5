"""The guard, run inside a grading kernel before any student cell: it puts back what the hidden
tests rely on before every graded test cell, and marks that cell's output. Part of
:mod:`tinychinchilla.sandbox`, which re-exports everything here (the kernel runs
``tinychinchilla.sandbox.install_guard()``)."""

from __future__ import annotations

import os
import sys

GUARD_MIME = "application/vnd.tinychinchilla.guard+json"
CELL_LOG_ENV = "TINYCHINCHILLA_CELL_LOG"  # the guard writes each cell's source there before it runs
HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


# ---------------------------------------------------------------------------------------------
# The guard, inside the kernel
# ---------------------------------------------------------------------------------------------

_PROTECTED_MODULES = ("builtins", "math", "cmath", "numbers", "operator", "numpy", "numpy.testing",
                      "torch", "IPython.display")


def install_guard() -> None:
    """Snapshot what the hidden tests rely on; restore it before every graded test cell.

    Runs as the kernel's first line (``IPKernelApp.exec_lines``), before any student code.
    Restores, before each cell whose source holds the hidden-test marker: the original attributes
    of ``builtins``, ``math``, ``numpy``, ``torch`` and every ``tinychinchilla`` module; those
    modules in ``sys.modules``; and the notebook names that were bound to one of these objects.
    Then it displays a marker the grader looks for (a test cell without it ran with the guard
    removed). It is a best effort inside a process the student controls; the grader's own re-check
    of every answer (outside the kernel) is what makes a wrong number fail for certain.
    """
    import importlib

    from IPython import get_ipython
    from IPython.display import display

    from tinychinchilla.check import PACKAGE_MODULES

    for name in PACKAGE_MODULES:  # loaded now, before any student cell can patch them
        importlib.import_module(f"tinychinchilla.{name}")
    modules = {name: sys.modules[name] for name in sys.modules
               if name in _PROTECTED_MODULES or name == "tinychinchilla" or name.startswith("tinychinchilla.")}
    snapshots = {name: dict(vars(module)) for name, module in modules.items()}
    originals = {id(obj): obj for snap in snapshots.values() for obj in snap.values()}
    originals.update({id(m): m for m in modules.values()})
    shell = get_ipython()
    user_ns = shell.user_ns
    show, marker, restore_dict, callbacks = display, GUARD_MIME, dict.update, shell.events.callbacks
    bound: dict[str, object] = {}

    reset_shell = _shell_resetter(shell)

    def after_cell(*_args) -> None:
        reset_shell(None)  # a transformer or patched method registered by this cell goes
        # names the notebook's own import cells bound to trusted objects, e.g. check, np, fit
        for key, value in list(user_ns.items()):
            if not key.startswith("_") and id(value) in originals and key not in bound:
                bound[key] = value
        # run last, after any hook a student cell registered
        for event, hook in (("pre_run_cell", before_cell), ("post_run_cell", after_cell)):
            if hook in callbacks[event]:
                callbacks[event].remove(hook)
            callbacks[event].append(hook)

    cell_log = os.environ.get(CELL_LOG_ENV)

    def before_cell(info) -> None:
        source = getattr(info, "raw_cell", "") or ""
        if cell_log:  # so the grader can tell which cell a dead kernel died in
            try:
                with open(cell_log, "w") as fh:
                    fh.write(source)
            except OSError:
                pass
        if HIDDEN_MARKER not in source:
            return
        for name, module in modules.items():
            sys.modules[name] = module
            restore_dict(vars(module), snapshots[name])
        user_ns.update(bound)
        reset_shell(source)
        show({marker: {"guard": "ok"}}, raw=True)

    after_cell()


class _Sealed(list):
    """A list of the guard's own AST transformer that a student's code cannot add to."""

    def _refuse(self, *args, **kwargs):
        return None

    append = insert = extend = __setitem__ = __delitem__ = remove = clear = pop = _refuse

    def __iadd__(self, other):
        return self


def _shell_resetter(shell):
    """A function that undoes what a notebook did to IPython's machinery for running a cell.

    IPython rewrites a cell's text with ``input_transformers_*`` *before* the ``pre_run_cell``
    event, and its tree with ``ast_transformers`` after it, and runs it through methods and a
    compiler a notebook can replace. Called with a test cell's source (from ``pre_run_cell``), it
    puts back IPython's own transformers, methods and compiler, and makes the last word on the
    cell's code a transformer that parses the cell as written (through IPython's own default input
    transforms), whatever a student's transformer did to the text before. Called with None (after
    every cell) it only puts the originals back."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    clean = TransformerManager().transform_cell
    names = ("run_cell", "_run_cell", "run_cell_async", "transform_cell", "transform_ast", "run_ast_nodes",
             "run_code", "should_run_async")
    kinds = [type(shell), *type(shell).__mro__]
    class_methods = {(cls, n): cls.__dict__[n] for cls in kinds for n in names if n in cls.__dict__}
    lists = {"input_transformers_post": list(shell.input_transformers_post),
             "ast_transformers": list(shell.ast_transformers)}
    manager, compiler = shell.input_transformer_manager, shell.compile
    manager_lists = {k: list(getattr(manager, k)) for k in ("cleanup_transforms", "line_transforms")}
    compiler_flags = compiler.flags

    class AsWritten(ast.NodeTransformer):
        source = None

        def visit(self, node):
            source, AsWritten.source = AsWritten.source, None
            return node if source is None else ast.parse(clean(source))

    def reset(test_source: str | None) -> None:
        for (cls, name), method in class_methods.items():
            if cls.__dict__.get(name) is not method:
                setattr(cls, name, method)
        for name in names:
            shell.__dict__.pop(name, None)
        shell.input_transformer_manager, shell.compile = manager, compiler
        compiler.flags = compiler_flags
        for key, value in manager_lists.items():
            setattr(manager, key, list(value))
        for key, value in lists.items():
            shell._trait_values[key] = list(value)
        if test_source is not None:
            AsWritten.source = test_source
            sealed = _Sealed([AsWritten()])
            shell._trait_values["ast_transformers"] = sealed

    return reset
