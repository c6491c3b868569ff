"""Batched online-learning kernels (Triton) and their plain-PyTorch twins; imported as
``motionpredict.kernels``."""
