"""Jacobians, Hessians and their products, as ``torch.autograd.functional`` (placeholder)."""
