# Copyright 2026 reasonact_ros contributors
# Licensed under the Apache License, Version 2.0
"""The stack on a physical base: robot.yaml + a robot profile, the base's topics remapped.

The base's own drivers (Create 3 / TurtleBot 4 bringup, a lidar driver, a camera
driver) run separately; this file starts only the reasonact stack, on the wall clock.
Parameters, lowest precedence first: params_file (reasonact.yaml), robot_params_file
(robot.yaml), config/robots/<robot>.yaml. Topics: the profile's (see
reasonact_ros.composition.ROBOT_PROFILES) unless an argument names another.
Read docs/ROBOT.md before the first drive: check the e-stop and the cmd_vel type.

    ros2 launch reasonact_ros robot.launch.py robot:=turtlebot4
    ros2 launch reasonact_ros robot.launch.py cmd_vel_topic:=/base/cmd_vel \
        scan_topic:=/front_lidar/scan use_stamped_cmd_vel:=false
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'reasonact_ros'
ROBOTS = ['generic_diff_drive', 'turtlebot4']


def launch_setup(context, *args, **kwargs):
    from reasonact_ros.composition import robot_profile

    share_dir = get_package_share_directory(PACKAGE)
    robot = LaunchConfiguration('robot').perform(context)
    profile = robot_profile(robot)
    profile_params = os.path.join(share_dir, 'config', 'robots', f'{robot}.yaml')
    # Empty arguments keep the profile's topic; anything else replaces it.
    topics = dict(profile.remaps(
        cmd_vel=LaunchConfiguration('cmd_vel_topic').perform(context),
        scan=LaunchConfiguration('scan_topic').perform(context),
        odom=LaunchConfiguration('odom_topic').perform(context),
        image=LaunchConfiguration('image_topic').perform(context),
        camera_info=LaunchConfiguration('camera_info_topic').perform(context)))

    stack = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share_dir, 'launch', 'reasonact.launch.py')),
        launch_arguments={
            'namespace': LaunchConfiguration('namespace'),
            'use_sim_time': 'false',
            'params_file': LaunchConfiguration('params_file'),
            'overlay_params_files': ','.join([
                LaunchConfiguration('robot_params_file').perform(context), profile_params]),
            'reasoner': LaunchConfiguration('reasoner'),
            'llm_endpoint': LaunchConfiguration('llm_endpoint'),
            # empty: the profile decides Twist or TwistStamped
            'use_stamped_cmd_vel': LaunchConfiguration('use_stamped_cmd_vel'),
            'cmd_vel_topic': topics.get('cmd_vel', 'cmd_vel'),
            'scan_topic': topics.get('scan', 'scan'),
            'odom_topic': topics.get('odom', 'odom'),
            'image_topic': topics.get('camera/image_raw', 'camera/image_raw'),
            'camera_info_topic': topics.get('camera/camera_info', 'camera/camera_info'),
            'log_level': LaunchConfiguration('log_level'),
        }.items(),
    )

    rviz = Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        arguments=['-d', os.path.join(share_dir, 'config', 'rviz', 'reasonact.rviz')],
        condition=IfCondition(LaunchConfiguration('rviz')),
        output='log',
    )
    return [stack, rviz]


def generate_launch_description():
    share_dir = get_package_share_directory(PACKAGE)

    return LaunchDescription([
        DeclareLaunchArgument(
            'robot', default_value='generic_diff_drive', choices=ROBOTS,
            description='Robot profile: config/robots/<robot>.yaml (speed limits, '
                        'footprint, safety zones, lidar mount, Twist or TwistStamped)'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description="Namespace of the stack (the base's topics are remapped below)"),
        DeclareLaunchArgument(
            'params_file',
            default_value=os.path.join(share_dir, 'config', 'reasonact.yaml'),
            description='Full path to the base parameters file for the stack'),
        DeclareLaunchArgument(
            'robot_params_file',
            default_value=os.path.join(share_dir, 'config', 'robot.yaml'),
            description='Physical-robot parameters applied over params_file'),
        DeclareLaunchArgument(
            'cmd_vel_topic', default_value='',
            description="The base's velocity command topic (empty: the profile's, cmd_vel)"),
        DeclareLaunchArgument(
            'scan_topic', default_value='',
            description="The 2D lidar's LaserScan topic (empty: the profile's, scan)"),
        DeclareLaunchArgument(
            'odom_topic', default_value='',
            description="The base's Odometry topic (empty: the profile's, odom)"),
        DeclareLaunchArgument(
            'image_topic', default_value='',
            description="The forward camera's Image topic (empty: the profile's)"),
        DeclareLaunchArgument(
            'camera_info_topic', default_value='',
            description="The camera's CameraInfo topic (empty: the profile's)"),
        DeclareLaunchArgument(
            'use_stamped_cmd_vel', default_value='',
            description="'true' if the base takes geometry_msgs/TwistStamped, 'false' for "
                        "Twist; empty keeps the profile's value"),
        DeclareLaunchArgument(
            'reasoner', default_value='rules', choices=['rules', 'llm', 'local'],
            description='reasoning_node backend: rules, llm or local'),
        DeclareLaunchArgument(
            'llm_endpoint', default_value='',
            description='OpenAI-compatible endpoint for reasoner:=llm'),
        DeclareLaunchArgument(
            'rviz', default_value='false', description='Start RViz2 with the reasonact view'),
        DeclareLaunchArgument(
            'log_level', default_value='info', description='Log level of the stack nodes'),
        OpaqueFunction(function=launch_setup),
    ])
