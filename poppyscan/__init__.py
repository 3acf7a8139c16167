"""poppyscan: drone orthomosaics in, a short list of field targets out."""

__version__ = "0.1.0"
