"""CUDA graphs for the training step (``cuda_graphs: true``; CUDA devices only).

An iteration of the small ColorMNIST networks is hundreds of short kernels (α-GAN: six updates of
four networks, each a forward, a backward and an Adam step), and on a GPU their launches, not
their arithmetic, bound the speed. :class:`GraphedStep` runs a few iterations eagerly, captures
one whole iteration as a CUDA graph and from then on replays it: one launch per iteration.

The random draws stay those of the eager step: the prior samples (and WGAN-GP's interpolation
weights) are drawn outside the graph from the trial's own generator, in the step's order, and
copied into the graph's inputs (:class:`DrawTape`), so the trial's random stream and its
checkpoints are the eager trial's. Only DCGAN's dropout masks, which come from torch's default
CUDA generator in the eager step too, are drawn inside the graph.

Works for an :class:`~trainer.models.Algorithm` and a :class:`~trainer.fused.FusedAlgorithm`
alike: each names its random draws (``random_draws()``). Resuming from a checkpoint builds a new
graph; a trial can be resumed with or without CUDA graphs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .config import ConfigError


class DrawTape:
    """A step's random draws taken outside the step. ``recording()`` runs a step as it is and
    notes each draw (method, arguments, shape); ``serving()`` runs a step that receives, draw by
    draw, the tensors that ``draw()`` drew beforehand with the same methods and arguments."""

    def __init__(self, sources: list[tuple[Any, str]]):
        self.sources = sources                       # (object, method name): what the step calls
        self.calls: list[tuple[int, tuple, dict]] = []
        self.buffers: list[torch.Tensor] = []

    @contextlib.contextmanager
    def _patched(self, make: Callable[[int, Callable], Callable]) -> Iterator[None]:
        saved = []
        for index, (owner, name) in enumerate(self.sources):
            saved.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, make(index, getattr(owner, name)))
        try:
            yield
        finally:
            for owner, name, previous in saved:
                if previous is None:
                    delattr(owner, name)
                else:
                    setattr(owner, name, previous)

    def _original(self, index: int) -> Callable:
        owner, name = self.sources[index]
        return getattr(owner, name)

    def recording(self) -> contextlib.AbstractContextManager:
        self.calls, self.buffers = [], []

        def make(index, method):
            def record(*args, **kwargs):
                value = method(*args, **kwargs)
                self.calls.append((index, args, kwargs))
                self.buffers.append(torch.empty_like(value))
                return value
            return record
        return self._patched(make)

    def draw(self) -> None:
        """Draw the next step's random tensors, in the order the step asks for them."""
        for (index, args, kwargs), buffer in zip(self.calls, self.buffers, strict=True):
            buffer.copy_(self._original(index)(*args, **kwargs))

    def serving(self) -> contextlib.AbstractContextManager:
        position = [0]

        def make(index, method):
            def serve(*args, **kwargs):
                at = position[0]
                if at >= len(self.calls) or self.calls[at] != (index, args, kwargs):
                    raise RuntimeError(f"the step's random draws changed since they were recorded: call {at} "
                                       f"is {self.sources[index][1]}{args}")
                position[0] += 1
                return self.buffers[at]
            return serve
        return self._patched(make)


class GraphedStep:
    """``step(x)`` with the result of ``stepper.step_tensors(x)``: eager for ``warmup`` steps
    (on a side stream, as CUDA graphs require), then captured once and replayed. The returned
    losses are copies, safe to keep across steps. Call it inside the stepper's ``precision()``."""

    def __init__(self, stepper, device: torch.device, warmup: int = 3,
                 log: Callable[[str], None] = lambda message: None):
        self._check_device(device)
        self.stepper, self.warmup, self.log = stepper, max(1, warmup), log
        self.tape = DrawTape(stepper.random_draws())
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False                           # capture failed: the trial goes on without graphs
        self._capturable(True)                       # Adam keeps its step count on the GPU

    @staticmethod
    def _check_device(device: torch.device) -> None:
        if device.type != "cuda":
            raise ConfigError(f"cuda_graphs: CUDA graphs need a CUDA device, and this trial runs on {device}; "
                              "set device: cuda, or cuda_graphs: false")

    def _capturable(self, on: bool) -> None:
        for optimizer in self.stepper.optimizers.values():
            for group in getattr(optimizer, "param_groups", []):   # torch's Adam (fused: PerTrialAdam)
                group["capturable"] = on

    def _on_side_stream(self, step: Callable[[], dict]) -> dict:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), warnings.catch_warnings():
            # capturable Adam run eagerly warns once; these warm-up steps are meant to be eager
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            out = step()
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _graph_of_step(self) -> torch.cuda.CUDAGraph:
        """Capture one step on the static inputs (capturing runs nothing); sets ``self.outputs``."""
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads of the process (Ray's, MLflow's) may use CUDA meanwhile
        with self.tape.serving(), torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.outputs = self.stepper.step_tensors(self.static_x)
        return graph

    def _replay(self) -> None:
        self.graph.replay()

    def _capture(self, x: torch.Tensor) -> None:
        self.static_x = x.clone()
        try:
            self.graph = self._graph_of_step()
        except Exception as error:                   # an operation that cannot be captured
            self.eager = True
            self._capturable(False)
            self.log(f"cuda_graphs: capturing the step failed ({type(error).__name__}: {error}); "
                     "this trial goes on without CUDA graphs")

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.eager:
            return self.stepper.step_tensors(x)
        if self.graph is None:
            self.warmup -= 1
            if self.warmup > 0:
                return self._on_side_stream(lambda: self.stepper.step_tensors(x))
            with self.tape.recording():              # the last eager step shows the draws
                out = self._on_side_stream(lambda: self.stepper.step_tensors(x))
            self._capture(x)
            return out
        self.tape.draw()
        self.static_x.copy_(x)
        self._replay()
        return {key: value.clone() for key, value in self.outputs.items()}


def make_step(stepper, cfg, device: torch.device,
              log: Callable[[str], None] = lambda message: None) -> Callable[[torch.Tensor], dict]:
    """The trial's step function: ``stepper.step_tensors``, or its CUDA graph with ``cuda_graphs``
    (true, or auto on a CUDA device: where a trial gets a GPU, off on the CPU)."""
    if cfg.cuda_graphs is True or (cfg.cuda_graphs == "auto" and device.type == "cuda"):
        return GraphedStep(stepper, device, log=log)
    return stepper.step_tensors


__all__ = ["DrawTape", "GraphedStep", "make_step"]
