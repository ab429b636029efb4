"""Differentiable ops by family; each is one small ``Function`` with forward and backward."""
