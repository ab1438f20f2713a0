"""Interpreters kept warm: a `Runner` per interpreter, a `RunnerPool` to share them.

Creating an interpreter costs milliseconds, so each is created once and reused; one runner
is used by one thread at a time (TFLite interpreters are not thread-safe). The pool grows
to the peak number of threads that predicted at once and keeps them for reuse, so a thread
pool of any size (ours in `predict_many`, or a web server's) needs no thread-local state.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backends import Interpreter, invoke
from .preprocess import InputEncoder

__all__ = ["Runner", "RunnerPool"]


class Runner:
    """One interpreter with its tensor handles looked up once."""

    def __init__(
        self,
        interpreter: Interpreter,
        *,
        input_index: int,
        output_index: int,
        encoder: InputEncoder,
    ) -> None:
        self._interpreter = interpreter
        self._input = interpreter.tensor(input_index)
        self._input_index = input_index
        self._output_index = output_index
        self._encoder = encoder

    @property
    def interpreter(self) -> Interpreter:
        """The wrapped interpreter (for probes at load time)."""
        return self._interpreter

    def run(self, pixels: NDArray[np.uint8]) -> NDArray[Any]:
        """The raw output for one image already at the input size (H x W x C uint8)."""
        buffer = self._input()
        # Pixels are written straight into the interpreter's input buffer: no extra copy.
        self._encoder.encode(pixels, buffer[0])
        # The view must be gone before invoke(): the runtime refuses to run while numpy
        # views of its buffers are alive.
        del buffer
        invoke(self._interpreter)
        return self._interpreter.get_tensor(self._output_index)

    def run_tensor(self, value: NDArray[Any]) -> NDArray[Any]:
        """The raw output for a ready input tensor (synthetic probes)."""
        self._interpreter.set_tensor(self._input_index, value)
        invoke(self._interpreter)
        return self._interpreter.get_tensor(self._output_index)


class RunnerPool:
    """Idle runners, created on demand by `factory` and handed to one thread at a time."""

    def __init__(self, factory: Callable[[], Runner], *, first: Runner | None = None) -> None:
        self._factory = factory
        self._idle: queue.SimpleQueue[Runner] = queue.SimpleQueue()
        if first is not None:
            self._idle.put(first)

    @contextmanager
    def runner(self) -> Iterator[Runner]:
        """Borrow a runner for the duration of the `with` block."""
        try:
            runner = self._idle.get_nowait()
        except queue.Empty:
            runner = self._factory()
        try:
            yield runner
        finally:
            self._idle.put(runner)
