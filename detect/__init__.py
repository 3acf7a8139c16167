"""Model inference, merging in map space and field-target outputs (never imports ``train``)."""

__all__: list[str] = []
