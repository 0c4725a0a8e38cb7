"""Grad mode, whether ops record a graph now, and the numbers that order the graph.
The bottom floor of the engine: it imports nothing of minigrad.

`set_grad_enabled(False)` works as a plain call, a `with` block and a decorator, as in
PyTorch; a decorated generator function runs under the mode each time it resumes.  The mode
is per thread, as PyTorch's: another thread's `no_grad()` does not stop this thread's graph.
"""
import functools
import inspect
import itertools
import threading


class _Mode:
    """Whether ops record a graph now, in this thread: `mode.grad_enabled`, read by every op.

    Every op reads it, so reading is kept quick: while every thread has grad mode on (the usual
    case), grad_enabled is a plain True in a slot.  While some thread has it off, `mode` is a
    _ModePerThread instead (switch_grad_mode swaps its class), which asks the reading thread.
    """
    __slots__ = ("grad_enabled",)

    def __init__(self):
        self.grad_enabled = True


class _ModePerThread(_Mode):
    __slots__ = ()
    grad_enabled = property(lambda self: _threads.grad_enabled)


class _ThreadModes(threading.local):
    grad_enabled = True  # (each thread starts with grad mode on)


class _Changes:
    """The number of the latest in-place change of any tensor, in any thread: a backward
    checks what ops saved only when some change came after them (what each change wrote:
    minigrad/versions.py)."""
    __slots__ = ("last",)

    def __init__(self):
        self.last = 0


mode = _Mode()
changes = _Changes()
_threads = _ThreadModes()
_threads_off = 0  # how many threads have grad mode off now
_lock = threading.Lock()


def switch_grad_mode(enabled):
    """Set this thread's grad mode (no_grad, enable_grad and set_grad_enabled call this)."""
    global _threads_off
    with _lock:
        _threads_off += (not enabled) - (not _threads.grad_enabled)
        _threads.grad_enabled = enabled
        mode.__class__ = _ModePerThread if _threads_off else _Mode
next_number = itertools.count(1).__next__  # each recorded op and each in-place change takes the next
                                           # number: an op's output is newer (larger) than its inputs


class _Switch:
    """A `with` block or decorator that sets grad mode to `enabled` inside and restores it after."""
    enabled = True

    def __init__(self, enabled=None):
        if enabled is not None:
            self.enabled = enabled

    def __enter__(self):
        self.previous = mode.grad_enabled
        switch_grad_mode(self.enabled)

    def __exit__(self, *exc):
        switch_grad_mode(self.previous)

    def __call__(self, func):
        return _decorate(func, self.enabled)


class no_grad(_Switch):
    """Record no graph inside: `with no_grad(): ...`, or `@no_grad()` on a function (or generator)."""
    enabled = False


class enable_grad(_Switch):
    """Record graphs again, e.g. inside a `no_grad()` block."""
    enabled = True


class set_grad_enabled(_Switch):
    """Switch recording on or off now (a plain call), for a `with` block, or for a decorated function."""

    def __init__(self, enabled):
        self.enabled, self.previous = bool(enabled), mode.grad_enabled
        switch_grad_mode(self.enabled)  # as PyTorch: the call itself switches

    def __enter__(self):
        pass  # already switched by the call

    def __call__(self, func):
        switch_grad_mode(self.previous)  # as a decorator it switches only while func runs
        return super().__call__(func)


def is_grad_enabled():
    return mode.grad_enabled


def _decorate(func, enabled):
    """func run with grad mode `enabled`; a generator function runs with it each time it resumes."""
    if not inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            with _Switch(enabled):
                return func(*args, **kwargs)
        return run

    @functools.wraps(func)
    def run_generator(*args, **kwargs):
        generator = func(*args, **kwargs)
        try:
            with _Switch(enabled):
                request = next(generator)
            while True:
                try:
                    response = yield request
                except GeneratorExit:
                    with _Switch(enabled):
                        generator.close()
                    raise
                except BaseException as err:  # thrown in by the caller: passed on to func
                    with _Switch(enabled):
                        request = generator.throw(err)
                else:
                    with _Switch(enabled):
                        request = generator.send(response)
        except StopIteration as stop:
            return stop.value
    return run_generator
