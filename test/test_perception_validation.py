"""Sensor input checks: every refusal carries a stable cause key."""

import math

import numpy as np
import pytest

from reasonact_ros.perception.validation import (
    SensorInputError,
    camera_model_from_info,
    check_camera_info,
    check_scan,
    check_stamp,
    image_to_rgb,
)


def raises_cause(cause):
    return pytest.raises(SensorInputError, match=f"^{cause}:")


def test_nan_and_inf_beams_become_no_returns():
    ranges = check_scan([1.0, math.nan, math.inf, -math.inf, 2.0, 50.0, 0.01], 0.05, 12.0)
    assert ranges[0] == 1.0 and ranges[4] == 2.0
    assert np.all(np.isinf(ranges[[1, 2, 3, 5, 6]]))


def test_all_nan_scan_is_refused():
    with raises_cause("scan_nan") as error:
        check_scan([math.nan] * 5, 0.05, 12.0)
    assert error.value.cause == "scan_nan"


def test_all_inf_scan_is_open_space_not_an_error():
    # REP-117: +inf means nothing within range; an empty field must not read as a fault.
    ranges = check_scan([math.inf] * 5, 0.05, 12.0)
    assert np.all(np.isposinf(ranges))


def test_inverted_range_limits_are_refused():
    with raises_cause("range_order"):
        check_scan([1.0, 2.0], 5.0, 1.0)
    with raises_cause("range_order"):
        check_scan([1.0, 2.0], math.nan, 1.0)


def test_empty_scan_is_refused():
    with raises_cause("empty_scan"):
        check_scan([], 0.05, 12.0)


def test_zero_angle_increment_is_refused():
    with raises_cause("scan_angles"):
        check_scan([1.0], 0.05, 12.0, angle_increment=0.0)


def test_stale_stamp_is_refused():
    check_stamp(9.8, 10.0, 0.5)
    with raises_cause("stale"):
        check_stamp(8.0, 10.0, 0.5, "scan")


@pytest.mark.parametrize("encoding", ["16UC1", "yuv422", "32FC1", "bayer_rggb8"])
def test_unsupported_encodings_are_refused(encoding):
    with raises_cause("encoding"):
        image_to_rgb(bytes(2 * 2 * 2), 2, 2, encoding, 4)


def test_rgb8_passes_through():
    data = np.arange(2 * 3 * 3, dtype=np.uint8)
    image = image_to_rgb(data.tobytes(), 3, 2, "rgb8", 9)
    assert image.shape == (2, 3, 3)
    assert np.array_equal(image.ravel(), data)


def test_bgra8_and_bgr8_are_converted_to_rgb():
    pixel_bgra = bytes([10, 20, 30, 255])
    assert image_to_rgb(pixel_bgra * 4, 2, 2, "bgra8", 8)[0, 0].tolist() == [30, 20, 10]
    assert image_to_rgb(bytes([10, 20, 30]) * 4, 2, 2, "bgr8", 6)[1, 1].tolist() == [30, 20, 10]
    assert image_to_rgb(bytes([1, 2, 3, 4]) * 4, 2, 2, "rgba8", 8)[0, 1].tolist() == [1, 2, 3]


def test_mono8_becomes_grey_rgb():
    image = image_to_rgb(bytes([7, 9, 11, 13]), 2, 2, "mono8", 2)
    assert image.shape == (2, 2, 3)
    assert image[1, 0].tolist() == [11, 11, 11]


def test_row_padding_in_step_is_dropped():
    rows = bytes([1, 2, 3, 0]) + bytes([4, 5, 6, 0])  # 1x rgb8 pixel per row, padded to 4
    image = image_to_rgb(rows, 1, 2, "rgb8", 4)
    assert image[:, 0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_data_length_mismatch_is_refused():
    with raises_cause("data_length"):
        image_to_rgb(bytes(11), 2, 2, "rgb8", 6)
    with raises_cause("data_length"):
        image_to_rgb(bytes(12), 2, 2, "rgb8", 5)  # step shorter than a row


def test_camera_info_from_k_builds_a_camera_model():
    info = check_camera_info([500.0, 0, 320, 0, 510.0, 240, 0, 0, 1], 640, 480)
    assert info == {"width": 640, "height": 480, "fx": 500.0, "fy": 510.0, "cx": 320.0,
                    "cy": 240.0}
    camera = camera_model_from_info(info, mount_x=0.1, mount_z=1.0, pitch=0.2)
    assert camera.fy == 510.0 and camera.pitch == 0.2


def test_zero_focal_length_is_refused():
    with raises_cause("zero_focal"):
        check_camera_info([0.0] * 9, 640, 480)
    with raises_cause("zero_focal"):
        check_camera_info(fx=0.0, fy=400.0, cx=320.0, cy=240.0, width=640, height=480)


def test_malformed_camera_info_is_refused():
    with raises_cause("camera_info"):
        check_camera_info([1.0, 2.0], 640, 480)
    with raises_cause("image_size"):
        check_camera_info([400.0, 0, 320, 0, 400.0, 240, 0, 0, 1], 0, 480)
