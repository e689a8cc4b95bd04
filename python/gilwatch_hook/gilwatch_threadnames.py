"""gilwatch: give each Python thread its full ``threading.Thread.name`` in the monitor.

OS thread names stop at 15 bytes (CPython 3.14+ sets them; older versions do not). This module
tells the gilwatch injection library (the one NVTX loads from NVTX_INJECTION64_PATH) the
name of every Python thread when it starts and whenever its name changes. It changes
nothing else: no OS thread names, no new threads, no effect when gilwatch is absent, and
no import of threading before the program imports it (gevent and similar libraries must
patch threading first), and ctypes only when the first name is told.
"""
import os
import sys

_name_thread = None  # gilwatch_name_thread from the injection library, once loaded
_unavailable = False  # the library is not there, or is not gilwatch's: stop trying
_pending = {}  # native id -> name, told once the library is loaded
_MAX_PENDING = 256


def _load():
    """The injection library's naming function, or None if it cannot be had yet.

    ctypes is imported here, when the first name is told (a thread starting or being
    renamed), never when threading is imported: some programs import ctypes first, and its
    import of sysconfig imports threading, so at that moment ctypes is only half-loaded."""
    global _name_thread, _unavailable
    if _name_thread is not None or _unavailable:
        return _name_thread
    path = os.environ.get("NVTX_INJECTION64_PATH")
    if not path:
        _unavailable = True
        return None
    ctypes = sys.modules.get("ctypes")
    if ctypes is not None and not hasattr(ctypes, "CDLL"):
        return None  # ctypes is being imported right now (maybe by this thread): later
    try:
        import ctypes
    except ImportError:  # a Python built without ctypes
        _unavailable = True
        return None
    try:
        # dlopen of the same path returns the library NVTX loads: one shared state.
        function = ctypes.CDLL(path).gilwatch_name_thread
    except (OSError, AttributeError):
        _unavailable = True
        return None
    function.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    function.restype = None
    _name_thread = function
    pending = list(_pending.items())
    _pending.clear()
    for native_id, name in pending:
        function(native_id, name)
    return function


def _tell(native_id, name):
    if not native_id or _unavailable:
        return
    encoded = str(name).encode("utf-8", "replace")
    function = _name_thread or _load()
    if function is not None:
        function(native_id, encoded)
    elif not _unavailable and (native_id in _pending or len(_pending) < _MAX_PENDING):
        _pending[native_id] = encoded


class _AfterThreadingImport:
    """A one-shot meta path finder: lets threading load normally, then hooks it."""

    def find_spec(self, name, path=None, target=None):
        if name != "threading":
            return None
        sys.meta_path.remove(self)
        # The finders after this one, asked as the import system would (importlib.util's
        # find_spec would cost an import at the program's first import of threading).
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
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


_installed = False


def install(threading=None):
    """Hook threading.Thread (once); returns False when gilwatch is not loaded.

    Imports nothing: the library is loaded when the first name is told."""
    global _installed
    if not os.environ.get("NVTX_INJECTION64_PATH"):
        return False
    if threading is None:
        import threading
    if _installed:
        return True
    _installed = True

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
    try:
        # Told with the first thread that starts: loading the library now would import
        # ctypes at the program's import of threading.
        _pending[threading.get_native_id()] = str(threading.current_thread().name).encode("utf-8", "replace")
    except Exception:
        pass
    return True
