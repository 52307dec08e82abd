# Copyright 2026 reasonact_ros contributors
# Licensed under the Apache License, Version 2.0
"""The built-in simulator (sim_node) and the stack on its clock, RViz on request.

sim_node publishes what Gazebo or a robot would (/clock, scan, camera, odom) and takes
cmd_vel. The scenario's route and walkway are given to the planner, the reasoning node
and perception as a parameter overlay, exactly as `reasonact launch sim` does.

    ros2 launch reasonact_ros sim.launch.py scenario:=crossing rviz:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    OpaqueFunction,
)
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushROSNamespace

PACKAGE = 'reasonact_ros'


def launch_setup(context, *args, **kwargs):
    from reasonact_ros.composition import (
        namespaced_params_file,
        scenario_parameters,
        write_params_file,
    )
    from reasonact_ros.sim.scenario import load_scenario

    share_dir = get_package_share_directory(PACKAGE)
    namespace = LaunchConfiguration('namespace').perform(context)
    scenario = LaunchConfiguration('scenario').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    camera = LaunchConfiguration('camera').perform(context).strip().lower() == 'true'
    real_time_factor = float(LaunchConfiguration('real_time_factor').perform(context))

    # The route (planner and reasoning), perception's walkway prior and the sensor mounts come from
    # the scenario file.
    scenario_overlay = write_params_file(scenario_parameters(scenario),
                                         name='scenario_overlay.yaml')
    lidar = load_scenario(scenario).lidar

    simulator = GroupAction([
        PushROSNamespace(namespace),
        Node(
            package=PACKAGE,
            executable='sim_node',
            name='sim_node',
            output='screen',
            parameters=[
                str(namespaced_params_file(params_file, namespace)),
                {
                    'scenario': scenario,
                    'camera_enabled': camera,
                    'lockstep': False,
                    'real_time_factor': real_time_factor,
                    'use_sim_time': False,  # sim_node is the clock
                },
            ],
            ros_arguments=['--log-level', LaunchConfiguration('log_level')],
        ),
    ])

    stack = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share_dir, 'launch', 'reasonact.launch.py')),
        launch_arguments={
            'namespace': namespace,
            'use_sim_time': 'true',
            'params_file': params_file,
            'overlay_params_files': str(scenario_overlay),
            'reasoner': LaunchConfiguration('reasoner'),
            'llm_endpoint': LaunchConfiguration('llm_endpoint'),
            # use_stamped_cmd_vel stays as the parameter file sets it for sim_node too
            'log_level': LaunchConfiguration('log_level'),
        }.items(),
    )

    # sim_node publishes odom -> base_link on /tf; RViz needs the scan's frame too.
    lidar_tf = Node(
        package='tf2_ros',
        executable='static_transform_publisher',
        name='lidar_tf',
        namespace=namespace,
        arguments=['--x', str(lidar.mount_x), '--z', str(lidar.mount_height),
                   '--frame-id', 'base_link', '--child-frame-id', 'base_scan'],
        parameters=[{'use_sim_time': True}],
        output='log',
    )

    rviz = Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        arguments=['-d', LaunchConfiguration('rviz_config')],
        parameters=[{'use_sim_time': True}],
        condition=IfCondition(LaunchConfiguration('rviz')),
        output='log',
    )
    return [simulator, stack, lidar_tf, rviz]


def generate_launch_description():
    share_dir = get_package_share_directory(PACKAGE)

    return LaunchDescription([
        DeclareLaunchArgument(
            'scenario', default_value='empty_walkway',
            description='Scenario name in config/scenarios (e.g. head_on, crossing, crowd) '
                        'or a scenario YAML path'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Top-level namespace for the simulator and the stack'),
        DeclareLaunchArgument(
            'params_file',
            default_value=os.path.join(share_dir, 'config', 'reasonact.yaml'),
            description='Full path to the ROS 2 parameters file for sim_node and the stack'),
        DeclareLaunchArgument(
            'reasoner', default_value='rules', choices=['rules', 'llm', 'local'],
            description='reasoning_node backend: rules, llm or local'),
        DeclareLaunchArgument(
            'llm_endpoint', default_value='',
            description='OpenAI-compatible endpoint for reasoner:=llm; empty keeps the '
                        'parameter file value'),
        DeclareLaunchArgument(
            'camera', default_value='false',
            description='Render and publish the simulated camera (costs CPU)'),
        DeclareLaunchArgument(
            'real_time_factor', default_value='1.0',
            description='Simulated seconds per wall second (0 runs as fast as possible)'),
        DeclareLaunchArgument(
            'rviz', default_value='false',
            description='Start RViz2 with the reasonact view'),
        DeclareLaunchArgument(
            'rviz_config',
            default_value=os.path.join(share_dir, 'config', 'rviz', 'reasonact.rviz'),
            description='Full path to the RViz2 configuration file'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Log level of the simulator and stack nodes'),
        OpaqueFunction(function=launch_setup),
    ])
