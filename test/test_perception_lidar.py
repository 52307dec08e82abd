"""Lidar clustering and classification on synthetic scans (no simulator needed)."""

import math

import numpy as np
import pytest

from reasonact_ros.perception.lidar import (
    LidarConfig,
    classify_cluster,
    cluster_points,
    extract_clusters,
    scan_points_odom,
)
from reasonact_ros.perception.pipeline import (
    OBSTACLE_ID_BASE,
    PerceptionConfig,
    PerceptionPipeline,
)
from reasonact_ros.perception.synthetic import synthetic_scan
from reasonact_ros.perception.tracker import TrackerConfig
from reasonact_ros.scene import ObjectClass, Pose2D, ScanData

WALL = (-6.0, -3.0, 6.0, -3.0)


@pytest.mark.parametrize("distance", [1.5, 2.5, 3.0])
def test_two_people_half_a_metre_apart_stay_two_clusters(distance):
    # Centres 0.5 m apart with 0.22 m bodies: 6 cm between shoulders, no beam jump to see.
    people = [(distance, -0.25, 0.22), (distance, 0.25, 0.22)]
    scan = synthetic_scan(circles=people, noise_std=0.01, rng=np.random.default_rng(3))
    clusters = extract_clusters(scan)
    assert len(clusters) == 2
    centres = sorted(c.centroid[1] for c in clusters)
    assert centres == pytest.approx([-0.25, 0.25], abs=0.08)


def test_two_people_half_a_metre_apart_merge_without_the_valley_split():
    # The same scene with the notch split disabled merges: the split is what keeps them apart.
    scan = synthetic_scan(circles=[(3.0, -0.25, 0.22), (3.0, 0.25, 0.22)], noise_std=0.01,
                          rng=np.random.default_rng(3))
    assert len(extract_clusters(scan, LidarConfig(valley_depth=None))) == 1


def test_range_relative_jump_splits_people_a_fixed_gap_would_merge():
    # Two people 0.3 m apart (surface to surface), 2 m from the robot.
    scan = synthetic_scan(circles=[(2.0, -0.35, 0.25), (2.0, 0.45, 0.25)])
    points = scan_points_odom(scan)
    fixed = cluster_points(points, gap=0.5)
    relative = cluster_points(points, gap=0.5, sensor_origin=(0.0, 0.0),
                              angle_increment=scan.angle_increment, valley_depth=None)
    assert len(fixed) == 1
    assert len(relative) == 2


def test_distant_person_is_not_shattered_by_sparse_beams():
    scan = synthetic_scan(circles=[(11.0, 0.0, 0.3)])
    clusters = extract_clusters(scan)
    assert len(clusters) == 1
    assert clusters[0].person_sized


def test_cluster_across_the_scan_seam_is_one_cluster():
    # angle_min is -pi: a person straight behind the robot straddles the first/last beam.
    scan = synthetic_scan(circles=[(-3.0, 0.0, 0.25)])
    clusters = extract_clusters(scan)
    assert len(clusters) == 1
    assert clusters[0].centroid == pytest.approx([-3.0, 0.0], abs=0.06)


def test_centroid_is_pushed_away_from_the_sensor_to_the_body_centre():
    scan = synthetic_scan(sensor=Pose2D(1.0, 1.0, 0.3), circles=[(4.0, 3.0, 0.25)],
                          noise_std=0.01, rng=np.random.default_rng(0))
    (cluster,) = extract_clusters(scan)
    raw_error = np.linalg.norm(cluster.raw_centroid - [4.0, 3.0])
    corrected_error = np.linalg.norm(cluster.centroid - [4.0, 3.0])
    assert raw_error > 0.12
    assert corrected_error < 0.05


def test_wall_is_an_obstacle_and_a_person_sized_moving_cluster_a_person():
    scan = synthetic_scan(circles=[(2.0, 0.5, 0.25)], segments=[WALL])
    clusters = extract_clusters(scan)
    wall = max(clusters, key=lambda c: c.width)
    person = min(clusters, key=lambda c: c.width)
    assert classify_cluster(wall, speed=1.0) == ObjectClass.OBSTACLE
    assert classify_cluster(person, speed=1.0) == ObjectClass.PEDESTRIAN
    assert classify_cluster(person, speed=0.0) == ObjectClass.UNKNOWN


def test_pipeline_labels_walker_pedestrian_and_wall_obstacle_cells():
    pipeline = PerceptionPipeline()
    for k in range(20):
        t = 0.1 * k
        scan = synthetic_scan(circles=[(1.0 + 1.0 * t, 1.0, 0.25)], segments=[WALL],
                              noise_std=0.01, rng=np.random.default_rng(k))
        objects = pipeline.process_scan(scan, t)
    people = [o for o in objects if o.label == ObjectClass.PEDESTRIAN]
    walls = [o for o in objects if o.label == ObjectClass.OBSTACLE]
    assert len(people) == 1
    assert people[0].vx == pytest.approx(1.0, abs=0.15)
    # The 12 m wall is cut into about a dozen cell-sized obstacles, none of them tracked.
    assert len(walls) >= 10
    assert all(o.id >= OBSTACLE_ID_BASE and o.radius < 1.0 for o in walls)
    assert all(abs(o.y + 3.0) < 0.1 for o in walls)


def test_obstacle_cell_ids_stay_put_while_the_robot_drives_past():
    pipeline = PerceptionPipeline()
    seen = []
    for k in range(10):
        scan = synthetic_scan(sensor=Pose2D(0.2 * k, 0.0, 0.0), segments=[WALL])
        objects = pipeline.process_scan(scan, 0.1 * k)
        seen.append({o.id: (o.x, o.y) for o in objects})
    common = set(seen[0]) & set(seen[-1])
    assert len(common) >= 8
    for object_id in common:
        assert np.hypot(*np.subtract(seen[0][object_id], seen[-1][object_id])) < 0.3


def test_static_person_sized_blob_becomes_unknown_after_a_while():
    pipeline = PerceptionPipeline()
    labels = []
    for k in range(80):
        objects = pipeline.process_scan(synthetic_scan(circles=[(3.0, 0.0, 0.2)]), 0.1 * k)
        labels.append(objects[0].label if objects else None)
    assert labels[10] == ObjectClass.PEDESTRIAN  # presumed a person at first
    assert labels[-1] == ObjectClass.UNKNOWN


def test_no_return_at_range_max_makes_no_points():
    ranges = np.full(360, 12.0)
    ranges[10] = 3.0
    scan = ScanData(ranges=ranges, angle_min=-math.pi, angle_increment=2 * math.pi / 360,
                    range_min=0.05, range_max=12.0)
    assert len(scan_points_odom(scan)) == 1


def test_bad_clustering_input_is_refused():
    with pytest.raises(ValueError, match="points must be"):
        cluster_points(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="min_points"):
        cluster_points(np.zeros((4, 2)), min_points=0)
    with pytest.raises(ValueError, match="gap"):
        cluster_points(np.zeros((4, 2)), gap=-1.0)
    with pytest.raises(ValueError, match="lidar gap"):
        LidarConfig(gap=0.0)
    assert cluster_points(np.zeros((0, 2))) == []


def test_wall_seen_at_a_grazing_angle_stays_one_obstacle():
    # Far along a wall the returns are ~0.5 m apart, more than any person-splitting gap.
    scan = synthetic_scan(segments=[(-12.0, -4.0, 12.0, -4.0)], range_max=12.0,
                          noise_std=0.01, rng=np.random.default_rng(5))
    clusters = extract_clusters(scan)
    assert len(clusters) == 1
    assert not clusters[0].person_sized


def test_lone_returns_are_weak_and_never_start_a_track():
    pipeline = PerceptionPipeline()
    # A post so thin that it shows one return per scan.
    for k in range(10):
        objects = pipeline.process_scan(synthetic_scan(circles=[(8.0, 0.0, 0.03)]), 0.1 * k)
    assert [c.weak for c in pipeline.clusters] == [True]
    assert objects == ()
    assert pipeline.tracker.tracks == []


def one_return_left(scan: ScanData) -> ScanData:
    """The scan with every return but the middle one of its only object blanked out, as if
    someone stood in front."""
    hits = np.flatnonzero(np.isfinite(scan.ranges))
    ranges = np.full_like(scan.ranges, np.inf)
    ranges[hits[len(hits) // 2]] = scan.ranges[hits[len(hits) // 2]]
    return ScanData(ranges, scan.angle_min, scan.angle_increment, scan.range_min,
                    scan.range_max, scan.sensor_pose)


@pytest.mark.parametrize("single_returns", [True, False])
def test_a_person_hidden_down_to_one_return_keeps_their_track(single_returns):
    pipeline = PerceptionPipeline(PerceptionConfig(
        lidar=LidarConfig(single_returns=single_returns),
        tracker=TrackerConfig(max_coast_s=0.5, max_hidden_s=0.5)))
    for k in range(40):
        t = 0.1 * k
        scan = synthetic_scan(circles=[(3.0, -2.0 + 1.0 * t, 0.25)])
        pipeline.process_scan(one_return_left(scan) if t >= 1.5 else scan, t)
    objects = pipeline.scene(3.9, Pose2D()).objects
    if single_returns:  # 2.5 s on single returns, far beyond the coast time
        assert [o.id for o in objects] == [1]
        assert objects[0].y == pytest.approx(1.9, abs=0.2)
    else:
        assert objects == ()


def test_a_round_room_is_obstacle_structure_not_a_small_thing():
    # Every beam hits the wall 4 m away: first and last returns are neighbours, so the
    # first-to-last chord alone would call this 25 m ring a post.
    ranges = np.full(360, 4.0)
    scan = ScanData(ranges, -math.pi, 2 * math.pi / 360, 0.05, 12.0)
    (cluster,) = extract_clusters(scan)
    assert cluster.width > 8.0 and cluster.shape_class == ObjectClass.OBSTACLE
    objects = PerceptionPipeline().process_scan(scan, 0.0)
    assert len(objects) > 20 and all(o.label == ObjectClass.OBSTACLE for o in objects)


def legs_scan(x: float, config_rng_seed: int = 0) -> ScanData:
    # Two legs, 0.12 m wide, 0.3 m apart (centre to centre), as a knee-height lidar sees them.
    return synthetic_scan(circles=[(x, -0.15, 0.06), (x, 0.15, 0.06)], noise_std=0.005,
                          rng=np.random.default_rng(config_rng_seed))


def test_two_legs_are_paired_into_one_person():
    clusters = extract_clusters(legs_scan(2.5))
    assert len(clusters) == 1
    assert clusters[0].person_sized
    assert clusters[0].centroid == pytest.approx([2.5, 0.0], abs=0.06)
    unpaired = extract_clusters(legs_scan(2.5), LidarConfig(leg_pair_distance=0.0))
    assert len(unpaired) == 2


def test_a_walking_pair_of_legs_is_one_track():
    pipeline = PerceptionPipeline()
    for k in range(20):
        objects = pipeline.process_scan(legs_scan(1.5 + 0.1 * k, k), 0.1 * k)
    (person,) = objects
    assert person.label == ObjectClass.PEDESTRIAN
    assert person.vx == pytest.approx(1.0, abs=0.2)
