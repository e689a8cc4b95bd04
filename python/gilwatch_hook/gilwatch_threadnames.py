"""gilwatch: give each Python thread its full ``threading.Thread.name`` in the monitor.

CPython before 3.14 does not name OS threads, and OS names stop at 15 bytes. This module
tells the gilwatch injection library (the one NVTX loads from NVTX_INJECTION64_PATH) the
name of every Python thread when it starts and whenever its name changes. It changes
nothing else: no OS thread names, no new threads, no effect when gilwatch is absent, and
no import of threading or ctypes before the program imports threading itself (gevent and
similar libraries must patch threading first).
"""
import os
import sys

_name_thread = None


def _load():
    import ctypes

    path = os.environ.get("NVTX_INJECTION64_PATH")
    if not path:
        return None
    try:
        # dlopen of the same path returns the library NVTX loads: one shared state.
        function = ctypes.CDLL(path).gilwatch_name_thread
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    function.restype = None
    return function


def _tell(native_id, name):
    if native_id and _name_thread is not None:
        _name_thread(native_id, str(name).encode("utf-8", "replace"))


class _AfterThreadingImport:
    """A one-shot meta path finder: lets threading load normally, then hooks it."""

    def find_spec(self, name, path=None, target=None):
        if name != "threading":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        class _Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    install(module)
                except Exception:  # the program's import of threading must succeed regardless
                    pass

        spec.loader = _Loader()
        return spec


def _in_main_interpreter():
    import _thread

    is_main = getattr(_thread, "_is_main_interpreter", None)  # 3.12+
    return is_main is None or is_main()


def install_when_threading_loads():
    # Sub-interpreters run site too, but may not load ctypes (3.12+ isolated ones refuse
    # single-phase extensions): name threads of the main interpreter only.
    if not _in_main_interpreter():
        return
    if "threading" in sys.modules:
        install(sys.modules["threading"])
    else:
        sys.meta_path.insert(0, _AfterThreadingImport())


def install(threading=None):
    """Hook threading.Thread; returns False when gilwatch is not loaded."""
    global _name_thread
    if threading is None:
        import threading
    if _name_thread is not None:
        return True
    _name_thread = _load()
    if _name_thread is None:
        return False

    Thread = threading.Thread
    bootstrap_inner = Thread._bootstrap_inner

    def _bootstrap_inner(self):
        try:
            _tell(threading.get_native_id(), self.name)
        except Exception:  # naming must never break a thread
            pass
        return bootstrap_inner(self)

    Thread._bootstrap_inner = _bootstrap_inner

    name = Thread.name

    def _set_name(self, value):
        name.fset(self, value)
        try:
            if self.is_alive():
                _tell(self.native_id, self.name)
        except Exception:
            pass

    Thread.name = property(name.fget, _set_name, doc=name.__doc__)
    _tell(threading.get_native_id(), threading.current_thread().name)
    return True
