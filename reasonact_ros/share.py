"""Where the package's data files (config/, launch/, worlds/) live.

In a source checkout they sit beside the Python package; in a colcon install
they are under ``share/reasonact_ros`` and the ament index knows where.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "reasonact_ros"


def share_dir() -> Path:
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "package.xml").is_file() and (checkout / "config").is_dir():
        return checkout
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE))


def share_path(*parts: str) -> Path:
    """A path below the package's share directory, e.g. share_path('config', 'scenarios')."""
    return share_dir().joinpath(*parts)
