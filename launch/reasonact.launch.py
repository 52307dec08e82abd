# Copyright 2026 reasonact_ros contributors
# Licensed under the Apache License, Version 2.0
"""The reasonact stack: perception -> reasoning -> planner -> safety -> cmd_vel.

Modelled on nav2_bringup/launch/navigation_launch.py. The sensors (a robot, Gazebo
or sim_node) are not started here; sim.launch.py, gazebo.launch.py and
robot.launch.py include this file. The velocity stages are chained by remapping:

    planner_node --cmd_vel_nav--> safety_node --cmd_vel--> base

    ros2 launch reasonact_ros reasonact.launch.py use_sim_time:=true reasoner:=llm \
        llm_endpoint:=http://127.0.0.1:8080/v1
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushROSNamespace, SetParameter

PACKAGE = 'reasonact_ros'
# The planner's output, the safety node's input. Insert a stage (a velocity smoother)
# by giving the planner a new output name and chaining the stage in between.
NAV_VELOCITY = 'cmd_vel_nav'


def _bool_argument(context, name):
    """'true'/'false' (any case) as a bool, '' as None; anything else is an error."""
    text = LaunchConfiguration(name).perform(context).strip().lower()
    if text == '':
        return None
    if text not in ('true', 'false'):
        raise RuntimeError(f"launch argument {name} must be 'true' or 'false', got {text!r}")
    return text == 'true'


def launch_setup(context, *args, **kwargs):
    # Imported here so `ros2 launch --show-args` works before the package is sourced.
    from reasonact_ros.composition import namespaced_params_file

    namespace = LaunchConfiguration('namespace').perform(context)
    log_level = LaunchConfiguration('log_level')
    use_sim_time = _bool_argument(context, 'use_sim_time')
    use_stamped = _bool_argument(context, 'use_stamped_cmd_vel')
    reasoner = LaunchConfiguration('reasoner').perform(context)
    llm_endpoint = LaunchConfiguration('llm_endpoint').perform(context)

    # rcl matches `safety_node:` only to /safety_node: give the keys the namespace
    # (what nav2's RewrittenYaml root_key does).
    sources = [LaunchConfiguration('params_file').perform(context)]
    sources += [f.strip() for f in
                LaunchConfiguration('overlay_params_files').perform(context).split(',')
                if f.strip()]
    params_files = [str(namespaced_params_file(f, namespace)) for f in sources]

    reasoning_overrides = {'backend': reasoner}
    if llm_endpoint:
        reasoning_overrides['llm_endpoint'] = llm_endpoint
    velocity_overrides = {}
    if use_stamped is not None:
        velocity_overrides['use_stamped_cmd_vel'] = use_stamped

    sensor_remappings = [
        ('scan', LaunchConfiguration('scan_topic')),
        ('odom', LaunchConfiguration('odom_topic')),
        ('camera/image_raw', LaunchConfiguration('image_topic')),
        ('camera/camera_info', LaunchConfiguration('camera_info_topic')),
    ]
    ros_arguments = ['--log-level', log_level]

    group = GroupAction([
        PushROSNamespace(namespace),
        SetParameter('use_sim_time', bool(use_sim_time)),
        Node(
            package=PACKAGE,
            executable='perception_node',
            name='perception_node',
            output='screen',
            parameters=[*params_files],
            ros_arguments=ros_arguments,
            remappings=sensor_remappings,
        ),
        Node(
            package=PACKAGE,
            executable='reasoning_node',
            name='reasoning_node',
            output='screen',
            parameters=[*params_files, reasoning_overrides],
            ros_arguments=ros_arguments,
        ),
        Node(
            package=PACKAGE,
            executable='planner_node',
            name='planner_node',
            output='screen',
            parameters=[*params_files, velocity_overrides],
            ros_arguments=ros_arguments,
            remappings=[
                ('scan', LaunchConfiguration('scan_topic')),
                ('odom', LaunchConfiguration('odom_topic')),
                ('cmd_vel_nav', NAV_VELOCITY),
            ],
        ),
        Node(
            package=PACKAGE,
            executable='safety_node',
            name='safety_node',
            output='screen',
            parameters=[*params_files, velocity_overrides],
            ros_arguments=ros_arguments,
            remappings=[
                ('scan', LaunchConfiguration('scan_topic')),
                ('cmd_vel_nav', NAV_VELOCITY),
                ('cmd_vel', LaunchConfiguration('cmd_vel_topic')),
            ],
        ),
    ])
    return [group]


def generate_launch_description():
    share_dir = get_package_share_directory(PACKAGE)

    declare_namespace = DeclareLaunchArgument(
        'namespace', default_value='',
        description='Top-level namespace for the stack (e.g. robot1); empty for none')
    declare_use_sim_time = DeclareLaunchArgument(
        'use_sim_time', default_value='false',
        description='Use the /clock topic (sim_node or Gazebo) instead of the wall clock')
    declare_params_file = DeclareLaunchArgument(
        'params_file',
        default_value=os.path.join(share_dir, 'config', 'reasonact.yaml'),
        description='Full path to the ROS 2 parameters file for all stack nodes')
    declare_overlay_params_files = DeclareLaunchArgument(
        'overlay_params_files', default_value='',
        description='Comma-separated parameter files applied after params_file, later '
                    'wins (robot.yaml, a robot profile, a scenario); empty for none')
    declare_reasoner = DeclareLaunchArgument(
        'reasoner', default_value='rules', choices=['rules', 'llm', 'local'],
        description='reasoning_node backend: rules (no model), llm (OpenAI-compatible '
                    'endpoint, see llm_endpoint) or local (starts a local model server)')
    declare_llm_endpoint = DeclareLaunchArgument(
        'llm_endpoint', default_value='',
        description='OpenAI-compatible endpoint for reasoner:=llm, e.g. '
                    'http://127.0.0.1:8080/v1; empty keeps the parameter file value')
    declare_use_stamped_cmd_vel = DeclareLaunchArgument(
        'use_stamped_cmd_vel', default_value='',
        description="'true': cmd_vel_nav and cmd_vel are geometry_msgs/TwistStamped, "
                    "'false': Twist; empty keeps the parameter files' value")
    declare_cmd_vel_topic = DeclareLaunchArgument(
        'cmd_vel_topic', default_value='cmd_vel',
        description='Topic the safety node publishes the final velocity on (the base)')
    declare_scan_topic = DeclareLaunchArgument(
        'scan_topic', default_value='scan',
        description='sensor_msgs/LaserScan topic of the 2D lidar')
    declare_odom_topic = DeclareLaunchArgument(
        'odom_topic', default_value='odom',
        description='nav_msgs/Odometry topic of the base (odom -> base_link)')
    declare_image_topic = DeclareLaunchArgument(
        'image_topic', default_value='camera/image_raw',
        description='sensor_msgs/Image topic of the forward camera')
    declare_camera_info_topic = DeclareLaunchArgument(
        'camera_info_topic', default_value='camera/camera_info',
        description='sensor_msgs/CameraInfo topic matching image_topic')
    declare_log_level = DeclareLaunchArgument(
        'log_level', default_value='info',
        description='Log level of the stack nodes (debug, info, warn, error)')

    return LaunchDescription([
        SetEnvironmentVariable('RCUTILS_LOGGING_BUFFERED_STREAM', '1'),
        declare_namespace,
        declare_use_sim_time,
        declare_params_file,
        declare_overlay_params_files,
        declare_reasoner,
        declare_llm_endpoint,
        declare_use_stamped_cmd_vel,
        declare_cmd_vel_topic,
        declare_scan_topic,
        declare_odom_topic,
        declare_image_topic,
        declare_camera_info_topic,
        declare_log_level,
        OpaqueFunction(function=launch_setup),
    ])
