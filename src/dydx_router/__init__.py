"""Order routing service for the dYdX v4 exchange."""

__version__ = "0.1.0"
