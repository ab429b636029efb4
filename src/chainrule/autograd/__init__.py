"""Reverse-mode automatic differentiation: ``Function``, the engine, gradient checking."""

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .check import GraphCheckReport, check_graph
from .engine import unbroadcast
from .function import Function
from .functional import backward, grad
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "backward", "grad", "gradcheck", "GradcheckError", "no_grad",
           "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly",
           "is_anomaly_enabled", "AnomalyError", "unbroadcast", "check_graph", "GraphCheckReport"]
