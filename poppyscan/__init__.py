"""poppyscan: drone orthomosaics in, a short list of field targets out."""

import os

# torch's OpenMP threads sleep while they wait instead of spinning. Read once, when torch loads,
# so it is set here, before any poppyscan module imports torch. On a 2-core VM with other work
# running, spinning made two training threads 3x slower than one (scripts/bench_train_threads.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# A thread count set before Ultralytics' import sets its own (OMP_NUM_THREADS=1): the user's, or
# Ray's for an actor of one CPU. poppyscan.detect.cpu_threads keeps to it.
OMP_NUM_THREADS_AT_START = os.environ.get("OMP_NUM_THREADS")

__version__ = "0.1.0"
