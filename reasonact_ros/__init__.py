"""reasonact_ros: scene understanding that becomes safe velocity commands.

The generated message modules (``reasonact_ros.msg``) may be installed in a
different directory than this hand-written package (a virtual environment's
site-packages next to an editable checkout); extending ``__path__`` lets one
import name serve both, as an installed ROS package would.
"""

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
