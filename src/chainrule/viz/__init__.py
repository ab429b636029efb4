"""Seeing the chain rule: draw the graph, explain the backward pass step by step.

``draw_graph(output)`` renders the graph with Graphviz (an optional extra: without it you still
get the DOT text); ``explain(output)`` writes each step of the backward pass with its numbers.
"""

from .explain import Explanation, Step, explain
from .graph import Graph, GraphvizNotFound, draw_graph
from .explore import Explorer, explore  # the backward pass stepped through in a browser

__all__ = ["draw_graph", "Graph", "GraphvizNotFound", "explain", "Explanation", "Step"]
__all__ += ["explore", "Explorer"]
from .monitor import Diagnosis, TrainingMonitor  # per-layer statistics and diagnoses in training
__all__ += ["TrainingMonitor", "Diagnosis"]
