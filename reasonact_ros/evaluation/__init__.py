"""Evaluation: social-navigation metrics, the scenario-suite runner, reports and benchmarks.

``metrics`` is pure numpy; ``runner``, ``bench`` and ``commands`` start the real node
graph (rclpy) and are only imported when used.
"""
