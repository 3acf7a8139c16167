"""Training side of poppyscan: synthetic surveys, labels, datasets, training and evaluation."""

__all__: list[str] = []
