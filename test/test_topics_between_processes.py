"""A SceneObservation published by one Python process is received by another."""

import textwrap

from process_tools import start_python, stop

PUBLISHER = textwrap.dedent("""
    import time, rclpy
    from reasonact_ros.msg import SceneObservation, TrackedObject
    rclpy.init()
    node = rclpy.create_node('scene_publisher')
    pub = node.create_publisher(SceneObservation, 'scene', 10)
    msg = SceneObservation()
    msg.header.frame_id = 'odom'
    msg.objects = [TrackedObject(id=42, class_id=TrackedObject.CLASS_PEDESTRIAN)]
    msg.objects[0].position.x = 3.5
    msg.health_messages = ['from another process']
    try:
        while True:
            pub.publish(msg)
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
""")

SUBSCRIBER = textwrap.dedent("""
    import sys, rclpy
    from reasonact_ros.msg import SceneObservation
    rclpy.init()
    node = rclpy.create_node('scene_subscriber')
    got = []
    node.create_subscription(SceneObservation, 'scene', got.append, 10)
    end = node.get_clock().now().nanoseconds + 20e9
    while not got and node.get_clock().now().nanoseconds < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    if not got:
        sys.exit('no SceneObservation received')
    o = got[0].objects[0]
    print('RECEIVED', o.id, o.class_id, o.position.x, got[0].health_messages[0])
""")


def test_scene_observation_crosses_processes():
    publisher = start_python(["-c", PUBLISHER])
    subscriber = start_python(["-c", SUBSCRIBER])
    try:
        output, _ = subscriber.communicate(timeout=40)
    finally:
        stop(publisher)
    assert subscriber.returncode == 0, output
    assert "RECEIVED 42 1 3.5 from another process" in output
