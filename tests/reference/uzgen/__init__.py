"""PyTorch twins of unizoo's generalist blocks (parameter names equal unizoo's)."""
