"""Top-down PNG and GIF of an episode, and the benchmark entry point."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reasonact_ros import scene
from reasonact_ros.sim import World, load_scenario
from reasonact_ros.sim.benchmark import measure_real_time_factor
from reasonact_ros.sim.render import CAPTION_HEIGHT, ROBOT_FILL, TopDownRecorder


def record_episode(seconds=3.0, every_n_steps=5, caption="PROCEED 1.0 m/s"):
    world = World(load_scenario("head_on"))
    recorder = TopDownRecorder(world.scenario, every_n_steps=every_n_steps)
    for _ in range(int(seconds / 0.05)):
        world.command(scene.Velocity2D(1.0, 0.0))
        world.step(0.05)
        recorder.record(world, caption)
    return world, recorder


def test_png_shows_the_robot_where_it_is(tmp_path):
    world, recorder = record_episode()
    recorder.save_png(tmp_path / "end.png")
    image = np.asarray(Image.open(tmp_path / "end.png").convert("RGB"))
    assert image.shape[:2] == (recorder.size[1], recorder.size[0])
    u, v = (int(round(c)) for c in recorder.to_pixel(world.robot_pose().x - 0.15,
                                                     world.robot_pose().y + 0.1))
    assert tuple(image[v, u]) == ROBOT_FILL


def test_gif_has_one_frame_per_snapshot(tmp_path):
    _, recorder = record_episode(seconds=3.0, every_n_steps=5)
    recorder.save_gif(tmp_path / "episode.gif")
    gif = Image.open(tmp_path / "episode.gif")
    assert gif.n_frames == len(recorder.snapshots) == 12
    assert gif.info["duration"] == 250  # 5 steps of 0.05 s, played in real time


def test_caption_is_written_on_the_frame():
    _, with_caption = record_episode(seconds=0.5, caption="YIELD to person 1")
    _, without = record_episode(seconds=0.5, caption="")
    band_with = np.asarray(with_caption.frame(-1))[CAPTION_HEIGHT // 2:CAPTION_HEIGHT]
    band_without = np.asarray(without.frame(-1))[CAPTION_HEIGHT // 2:CAPTION_HEIGHT]
    assert not np.array_equal(band_with, band_without)


def test_people_leave_trails():
    _, recorder = record_episode(seconds=3.0)
    short = np.asarray(recorder.frame(1))
    long = np.asarray(recorder.frame(-1))
    trail_colour = np.all(long == (157, 182, 227), axis=2).sum()
    assert trail_colour > np.all(short == (157, 182, 227), axis=2).sum()


def test_recorder_rejects_bad_arguments(tmp_path):
    scenario = load_scenario("head_on")
    with pytest.raises(ValueError):
        TopDownRecorder(scenario, every_n_steps=0)
    with pytest.raises(ValueError, match="nothing recorded"):
        TopDownRecorder(scenario).save_png(tmp_path / "x.png")


def test_benchmark_measures_a_positive_real_time_factor():
    assert measure_real_time_factor("head_on", 1.0, camera=False) > 0.0
    assert measure_real_time_factor("head_on", 0.5, camera=True, clock="cpu") > 0.0
    with pytest.raises(ValueError):
        measure_real_time_factor("head_on", 0.0, camera=False)
    with pytest.raises(ValueError, match="clock"):
        measure_real_time_factor("head_on", 1.0, camera=False, clock="sundial")
