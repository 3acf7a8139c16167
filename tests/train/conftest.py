import pytest

from tests.train.marked import make_marked


@pytest.fixture()
def marked(tmp_path):
    """(ortho, truth file): red marks on a 512 px raster at 10 cm and their plots."""
    return make_marked(tmp_path)
