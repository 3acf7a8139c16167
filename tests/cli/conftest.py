"""The command-line tests share the detection tests' plumbing bundle."""

from tests.detect.conftest import untrained_bundle  # noqa: F401 - a fixture
