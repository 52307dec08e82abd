"""Test session isolation: every run gets its own DDS domain on loopback only.

Set before any rclpy import so that in-process nodes and the subprocesses the
tests start (which inherit the environment) can only hear each other.
"""

import os

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if "REASONACT_TEST_DOMAIN_ID" not in os.environ:
    # 1..100 keeps Fast DDS's port arithmetic valid; the pid spreads parallel runs.
    os.environ["REASONACT_TEST_DOMAIN_ID"] = str(1 + os.getpid() % 100)
os.environ["ROS_DOMAIN_ID"] = os.environ["REASONACT_TEST_DOMAIN_ID"]
