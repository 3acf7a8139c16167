"""The ``poppyscan`` command line: a thin layer over tiles, detect and train."""
