"""advnets: train, evaluate and diagnose Generative Adversarial Nets (Goodfellow et al., NIPS 2014)."""

__version__ = "0.2.0"
