"""Simulator: the SimPy engine, component models, closed-form timing and results."""
from loomsim.simulator.engine import simulate
from loomsim.simulator.result import SimResult

__all__ = ["SimResult", "simulate"]
