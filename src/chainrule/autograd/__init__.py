"""Reverse-mode automatic differentiation: ``Function``, the engine, gradient checking."""

from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .check import GraphCheckReport, check_graph
from .engine import backward, grad, unbroadcast
from .function import Function, once_differentiable
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                        no_grad, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import functional  # noqa: F401  (jacobian, hessian, vjp, jvp, hvp, vhp)

__all__ = ["Function", "once_differentiable", "backward", "grad", "gradcheck", "gradgradcheck",
           "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "inference_mode", "is_inference_mode_enabled", "detect_anomaly", "is_anomaly_enabled",
           "AnomalyError", "unbroadcast", "check_graph", "GraphCheckReport", "functional"]
