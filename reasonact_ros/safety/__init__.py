"""The independent safety layer: imports only scene.py and numpy, never the cores it guards."""

from reasonact_ros.safety.filter import SafetyConfig, SafetyFilter, SafetyOutput, box_polygon

__all__ = ["SafetyConfig", "SafetyFilter", "SafetyOutput", "box_polygon"]
