"""The building blocks of the planners, each against a direct computation."""

import math

import numpy as np
import pytest
import torch

from reasonact_ros.planning import costs
from reasonact_ros.planning.distance_grid import DistanceGrid


def test_unicycle_rollout_follows_the_exact_arc():
    v, w, dt, steps = 1.0, 0.8, 0.05, 40
    x, y, yaw = costs.unicycle_rollout(1.0, 2.0, 0.3, torch.full((1, steps), v),
                                       torch.full((1, steps), w), dt)
    t = dt * steps
    exact_x = 1.0 + v / w * (math.sin(0.3 + w * t) - math.sin(0.3))
    exact_y = 2.0 - v / w * (math.cos(0.3 + w * t) - math.cos(0.3))
    assert float(x[0, -1]) == pytest.approx(exact_x, abs=2e-3)
    assert float(y[0, -1]) == pytest.approx(exact_y, abs=2e-3)
    assert float(yaw[0, -1]) == pytest.approx(0.3 + w * t, abs=1e-5)


def test_integrated_increments_stay_within_limits():
    generator = torch.Generator().manual_seed(0)
    increments = torch.randn((200, 30), generator=generator)
    controls = costs.integrate_increments(increments, 0.5, 0.05, 0.0, 1.0)
    steps = torch.diff(controls, dim=1, prepend=torch.full((200, 1), 0.5))
    assert bool((steps.abs() <= 0.05 + 1e-6).all())
    assert bool((controls >= 0.0).all() and (controls <= 1.0).all())
    ramp = costs.integrate_increments(torch.ones((1, 5)), 0.0, 0.1, -1.0, 0.25)
    assert ramp[0].tolist() == pytest.approx([0.1, 0.2, 0.25, 0.25, 0.25])


def test_limit_acceleration_ramps_a_step_exactly():
    controls = np.full((1, 10, 2), [1.0, 1.0], dtype=np.float32)
    costs.limit_acceleration(controls, np.zeros(2, np.float32), np.array([0.1, 0.5], np.float32),
                             np.array([0.0, -1.0], np.float32), np.array([0.6, 1.0], np.float32))
    assert controls[0, :, 0] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6])
    assert controls[0, :2, 1] == pytest.approx([0.5, 1.0])


def test_static_cost_map_gathers_cost_and_collision_per_rollout_point():
    grid = DistanceGrid.from_points(np.array([[1.0, 0.0]]), (0.0, 0.0), 2.0, 0.05, 1.0)
    cost, collided = costs.obstacle_cell_cost(grid.distances, 0.3, 0.3, 1000.0, 10.0)
    static = costs.StaticCostMap(grid, cost, collided)
    x = torch.tensor([[1.0, 0.5, -1.5, 30.0]])
    step_cost, hit = static.lookup(x, torch.zeros_like(x))
    assert hit[0].tolist() == [True, False, False, False]
    assert float(step_cost[0, 0]) >= 1000.0
    assert 0.0 < float(step_cost[0, 1]) < 1000.0  # inside the margin, not touching
    assert float(step_cost[0, 2]) == 0.0 and float(step_cost[0, 3]) == 0.0


def test_people_gap_is_per_time_step():
    # The person is at x = 1 at step 0 and moves away; a rollout standing at x = 1 is
    # close only at step 0: collision is judged at the time it would happen.
    predicted = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]]])
    x = torch.tensor([[1.0, 1.0, 1.0]])
    gap = costs.nearest_person_gap(x, torch.zeros_like(x), predicted, [0.3], [(0, 3)])
    assert gap[0].tolist() == pytest.approx([-0.3, 1.7, 3.7])
    cost, hit = costs.people_cost(gap, 0.3, 0.5, 1000.0, 1.0)
    assert hit[0].tolist() == [True, False, False]


def test_in_their_way_cost_is_the_squared_shortfall_from_the_segment():
    # Someone's way after the horizon runs from (0, 0) to (4, 0); 1 m of it is their way.
    x_end = torch.tensor([2.0, 2.0, -0.5, 5.0, 2.0])
    y_end = torch.tensor([0.5, 1.5, 0.0, 0.0, -0.2])
    cost = costs.in_their_way_cost(x_end, y_end, np.array([[0.0, 0.0]]), np.array([[4.0, 0.0]]),
                                   np.array([1.0]), weight=100.0)
    assert cost.tolist() == pytest.approx([25.0, 0.0, 25.0, 0.0, 64.0], abs=1e-4)
    # Someone standing still has no way but their spot; two people's costs add up.
    standing = costs.in_their_way_cost(torch.tensor([0.6]), torch.tensor([0.0]),
                                       np.array([[0.0, 0.0], [1.0, 0.0]]),
                                       np.array([[0.0, 0.0], [1.0, 0.0]]),
                                       np.array([1.0, 1.0]), weight=1.0)
    assert float(standing[0]) == pytest.approx(0.4**2 + 0.6**2, abs=1e-5)


def test_proxemics_is_larger_in_front_of_a_walking_person():
    predicted = torch.zeros((1, 1, 2))
    ahead = costs.proxemics_cost(torch.tensor([[1.0]]), torch.tensor([[0.0]]), predicted,
                                 np.array([[1.0, 0.0]]), np.array([1.2]), np.array([0.4]),
                                 np.array([0.5]), [(0, 1)], 1.0)
    behind = costs.proxemics_cost(torch.tensor([[-1.0]]), torch.tensor([[0.0]]), predicted,
                                  np.array([[1.0, 0.0]]), np.array([1.2]), np.array([0.4]),
                                  np.array([0.5]), [(0, 1)], 1.0)
    beside = costs.proxemics_cost(torch.tensor([[0.0]]), torch.tensor([[1.0]]), predicted,
                                  np.array([[1.0, 0.0]]), np.array([1.2]), np.array([0.4]),
                                  np.array([0.5]), [(0, 1)], 1.0)
    assert float(ahead) > float(beside) > float(behind) > 0.0


def test_passing_side_cost_prefers_the_asked_side():
    path = torch.tensor([[2.0, 0.0]])
    left = torch.tensor([[2.0]]), torch.tensor([[1.5]])
    right = torch.tensor([[2.0]]), torch.tensor([[-1.5]])
    args = ((1.0, 0.0), 1.0, 1.2, 1.5, 10.0)
    assert float(costs.passing_side_cost(*left, path, *args)) == 0.0
    assert float(costs.passing_side_cost(*right, path, *args)) > 0.0


def test_passing_side_cost_reaches_further_behind_someone_to_overtake():
    path = torch.tensor([[5.0, 0.0]])
    in_line_3m_behind = torch.tensor([[2.0]]), torch.tensor([[0.0]])
    args = ((1.0, 0.0), 1.0, 1.2, 1.5, 10.0)
    short = float(costs.passing_side_cost(*in_line_3m_behind, path, *args))
    reaching = float(costs.passing_side_cost(*in_line_3m_behind, path, *args, behind_scale=4.0))
    assert short < 0.3 < reaching  # exp(-4) against exp(-0.56) of the 14.4 at the person
    in_line_3m_ahead = torch.tensor([[8.0]]), torch.tensor([[0.0]])
    assert float(costs.passing_side_cost(*in_line_3m_ahead, path, *args,
                                         behind_scale=4.0)) == pytest.approx(short)


def test_walkway_frame_signs_and_width():
    left = np.array([[0.0, 2.0], [10.0, 2.0]])
    right = np.array([[0.0, -1.0], [10.0, -1.0]])
    lateral, width = costs.walkway_frame(left, right, np.array([[5.0, 1.5], [5.0, -3.0]]))
    assert lateral == pytest.approx([1.0, -3.5])
    assert width == pytest.approx([1.5, 1.5])


def test_walkway_cost_prefers_the_keep_right_line_and_punishes_leaving():
    half_width = np.full(4, 2.0)
    lateral = np.array([-1.0, 0.0, -1.6, -3.0])  # keep-right line, centre, edge, off
    cost = costs.walkway_cost(lateral, half_width, robot_radius=0.3, keep_right=0.5,
                              off_weight=20.0, keep_right_weight=1.0)
    assert cost[0] == 0.0 < cost[1]
    assert cost[2] < cost[3]
    assert cost[3] > 20.0  # a metre and more off the walkway costs more than any lane choice


def test_a_granted_verge_is_cheap_on_its_side_only():
    half_width = np.full(2, 1.5)
    lateral = np.array([-2.5, 2.5])  # a metre off on the right and on the left
    plain = costs.walkway_cost(lateral, half_width, 0.3, 0.5, 20.0, 0.0)
    right_verge = costs.walkway_cost(lateral, half_width, 0.3, 0.5, 20.0, 0.0,
                                     verge_side=-1.0, verge_factor=0.05)
    assert plain[0] == plain[1]
    assert right_verge[0] == pytest.approx(0.05 * plain[0])
    assert right_verge[1] == plain[1]


def test_cuts_in_front_is_crossing_their_line_ahead_of_them():
    # Someone at the origin walking +x at 1 m/s; we stand at (1, -1), right of their line.
    steps = 4
    predicted = torch.tensor([[[0.25 * (t + 1), 0.0] for t in range(steps)]])
    positions, ways, here = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([1.0, -1.0])
    rollouts = {
        "across ahead of them": [(1.0, -0.5), (1.0, 0.0), (1.0, 0.3), (1.0, 0.5)],
        "across behind them": [(1.0, -1.0), (1.0, -1.0), (0.5, 0.2), (0.5, 0.4)],
        "along our side": [(1.5, -1.0), (2.0, -1.0), (2.5, -1.0), (3.0, -0.8)],
    }
    x = torch.tensor([[p[0] for p in path] for path in rollouts.values()])
    y = torch.tensor([[p[1] for p in path] for path in rollouts.values()])
    cut = costs.cuts_in_front(x, y, predicted, positions, ways, here)
    assert cut.tolist() == [True, False, False]


def test_nobody_is_cut_in_front_of_from_their_own_line():
    # Standing on their line ahead of them, stepping off either side is leaving their way.
    predicted = torch.tensor([[[0.5, 0.0], [1.0, 0.0]]])
    x = torch.tensor([[2.0, 2.0], [2.0, 2.0]])
    y = torch.tensor([[0.3, 0.6], [-0.3, -0.6]])
    cut = costs.cuts_in_front(x, y, predicted, np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]),
                              np.array([2.0, 0.0]))
    assert not cut.any()
