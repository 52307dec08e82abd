# Copyright 2026 reasonact_ros contributors
# Licensed under the Apache License, Version 2.0
"""Gazebo Harmonic: the walkway world, the ros_gz bridge and the stack on sim time.

- `gz sim` through ros_gz_sim's gz_sim.launch.py with worlds/walkway.sdf;
- ros_gz_bridge parameter_bridge with config/gz_bridge.yaml (clock, scan, camera,
  odom, tf in; cmd_vel out);
- the robot spawned with `ros_gz_sim create` only if the world does not already
  contain it (walkway.sdf does; spawn_robot:=true/false forces it);
- static transforms base_link -> base_scan / camera_link -> camera_optical_frame
  (no URDF here: the SDF sensors' gz_frame_id name those frames);
- the stack (reasonact.launch.py) with use_sim_time and the gazebo_walkway profile.

    ros2 launch reasonact_ros gazebo.launch.py rviz:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    AppendEnvironmentVariable,
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    OpaqueFunction,
)
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = 'reasonact_ros'
# Sensor mounts of reasonact_robot in worlds/reasonact_robot.sdf (x y z roll pitch yaw).
LIDAR_MOUNT = ('0.1', '0.0', '0.3', '0.0', '0.0', '0.0')
CAMERA_MOUNT = ('0.1', '0.0', '0.9', '0.0', '0.25', '0.0')


def _static_transform(name, parent, child, pose):
    x, y, z, roll, pitch, yaw = pose
    return Node(
        package='tf2_ros',
        executable='static_transform_publisher',
        name=name,
        arguments=['--x', x, '--y', y, '--z', z, '--roll', roll, '--pitch', pitch,
                   '--yaw', yaw, '--frame-id', parent, '--child-frame-id', child],
        parameters=[{'use_sim_time': True}],
        output='log',
    )


def launch_setup(context, *args, **kwargs):
    from reasonact_ros.composition import sdf_world_info

    share_dir = get_package_share_directory(PACKAGE)
    world = LaunchConfiguration('world').perform(context)
    robot_name = LaunchConfiguration('robot_name').perform(context)
    spawn = LaunchConfiguration('spawn_robot').perform(context).strip().lower()
    headless = LaunchConfiguration('headless').perform(context).strip().lower() == 'true'
    world_name, world_models = sdf_world_info(world)
    if spawn not in ('auto', 'true', 'false'):
        raise RuntimeError(f"spawn_robot must be auto, true or false, got {spawn!r}")
    spawn_robot = robot_name not in world_models if spawn == 'auto' else spawn == 'true'

    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(
            get_package_share_directory('ros_gz_sim'), 'launch', 'gz_sim.launch.py')),
        launch_arguments={
            # -r: run at once; -s: server only (no GUI)
            'gz_args': f"-r {'-s ' if headless else ''}-v 2 {world}",
            'on_exit_shutdown': 'true',
        }.items(),
    )

    bridge = Node(
        package='ros_gz_bridge',
        executable='parameter_bridge',
        name='gz_bridge',
        parameters=[{
            'config_file': os.path.join(share_dir, 'config', 'gz_bridge.yaml'),
            'use_sim_time': True,
        }],
        output='screen',
    )

    actions = [gazebo, bridge]
    if spawn_robot:
        actions.append(Node(
            package='ros_gz_sim',
            executable='create',
            name='spawn_reasonact_robot',
            arguments=['-world', world_name, '-file', LaunchConfiguration('robot_file'),
                       '-name', robot_name, '-x', LaunchConfiguration('x_pose'),
                       '-y', LaunchConfiguration('y_pose'), '-z', '0.02',
                       '-Y', LaunchConfiguration('yaw')],
            parameters=[{'use_sim_time': True}],
            output='screen',
        ))

    actions += [
        _static_transform('lidar_tf', 'base_link', 'base_scan', LIDAR_MOUNT),
        _static_transform('camera_tf', 'base_link', 'camera_link', CAMERA_MOUNT),
        # REP-103 optical frame: z forward, x right, y down.
        _static_transform('camera_optical_tf', 'camera_link', 'camera_optical_frame',
                          ('0.0', '0.0', '0.0', '-1.5708', '0.0', '-1.5708')),
    ]

    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share_dir, 'launch', 'reasonact.launch.py')),
        launch_arguments={
            'use_sim_time': 'true',
            'params_file': LaunchConfiguration('params_file'),
            'overlay_params_files': os.path.join(
                share_dir, 'config', 'robots', 'gazebo_walkway.yaml'),
            'reasoner': LaunchConfiguration('reasoner'),
            'llm_endpoint': LaunchConfiguration('llm_endpoint'),
            # config/gz_bridge.yaml bridges cmd_vel as geometry_msgs/Twist
            'use_stamped_cmd_vel': 'false',
            'log_level': LaunchConfiguration('log_level'),
        }.items(),
    ))

    actions.append(Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        arguments=['-d', os.path.join(share_dir, 'config', 'rviz', 'reasonact.rviz')],
        parameters=[{'use_sim_time': True}],
        condition=IfCondition(LaunchConfiguration('rviz')),
        output='log',
    ))
    return actions


def generate_launch_description():
    share_dir = get_package_share_directory(PACKAGE)

    return LaunchDescription([
        # Lets Gazebo resolve files next to the world (and model:// URIs in share/worlds).
        AppendEnvironmentVariable('GZ_SIM_RESOURCE_PATH', os.path.join(share_dir, 'worlds')),
        DeclareLaunchArgument(
            'world', default_value=os.path.join(share_dir, 'worlds', 'walkway.sdf'),
            description='Full path to the SDF world (Gazebo Harmonic, SDF 1.9+)'),
        DeclareLaunchArgument(
            'headless', default_value='false',
            description='Run the Gazebo server only, without the GUI'),
        DeclareLaunchArgument(
            'spawn_robot', default_value='auto', choices=['auto', 'true', 'false'],
            description='Spawn robot_file with ros_gz_sim create: auto spawns only if the '
                        'world has no model named robot_name'),
        DeclareLaunchArgument(
            'robot_file',
            default_value=os.path.join(share_dir, 'worlds', 'reasonact_robot.sdf'),
            description='SDF model spawned when the world has no robot'),
        DeclareLaunchArgument(
            'robot_name', default_value='reasonact_robot',
            description='Model name of the robot in Gazebo'),
        DeclareLaunchArgument(
            'x_pose', default_value='0.0', description='Spawn x in the world [m]'),
        DeclareLaunchArgument(
            'y_pose', default_value='0.0', description='Spawn y in the world [m]'),
        DeclareLaunchArgument(
            'yaw', default_value='0.0', description='Spawn heading in the world [rad]'),
        DeclareLaunchArgument(
            'params_file',
            default_value=os.path.join(share_dir, 'config', 'reasonact.yaml'),
            description='Full path to the ROS 2 parameters file for the stack'),
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
