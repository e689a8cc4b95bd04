"""gilwatch's sitecustomize: names Python threads in the monitor, then runs the
sitecustomize it shadows, if there is one further along sys.path.

It imports nothing at startup: the thread-name hook is installed when the program itself
imports threading (or at once, if something already did)."""
import os
import sys


def _install_thread_names():
    try:
        import gilwatch_threadnames

        gilwatch_threadnames.install_when_threading_loads()
    except Exception as error:  # never stop the program from starting
        sys.stderr.write("gilwatch: thread names unavailable: %s\n" % (error,))


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            import importlib.util

            spec = importlib.util.spec_from_file_location("sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            sys.modules["sitecustomize"] = module
            spec.loader.exec_module(module)
            return


if os.environ.get("NVTX_INJECTION64_PATH"):
    _install_thread_names()
_run_shadowed_sitecustomize()
