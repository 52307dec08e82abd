"""Thin rclpy nodes: declare parameters, convert messages, call a core, publish."""
