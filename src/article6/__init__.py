"""article6: Paris Agreement Article 6.2 cooperative approaches end to end."""

__version__ = "0.1.0"
