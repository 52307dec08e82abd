"""reasonact_ros: scene understanding that becomes safe velocity commands.

The generated message modules (``reasonact_ros.msg``) may be installed in a
different directory than this hand-written package (a virtual environment's
site-packages next to an editable checkout); extending ``__path__`` lets one
import name serve both, as an installed ROS package would.
"""

import os
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

# torch's OpenMP threads spin at every barrier by default. Beside other nodes on few cores
# a spinning thread starves the one doing the work: measured here with two threads under
# load, MPPI cycles went from ~20 ms (passive) to over a second and the trained detector
# from 66 ms to 2 s a frame. A default only, and only effective before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
