"""The forward camera's image: textured ground, sky, obstacles and people as 3-D shapes.

Rendering uses the same ``scene.CameraModel`` that perception back-projects
with, so a pixel and its ground point agree by construction. The ground is a
top-down texture of the scenario warped through a per-pixel ground lookup
that is computed once (the camera is fixed on the base), then moved with the
robot every frame by one affine transform and ``cv2.remap``. Objects are
convex silhouettes filled with OpenCV and drawn far to near (painter's
algorithm), which is exact for the non-interpenetrating convex shapes used.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from reasonact_ros import scene
from reasonact_ros.sim.scenario import ObstacleSpec, Scenario

TEXTURE_RESOLUTION = 0.04  # [m/px] of the top-down ground texture
TEXTURE_MARGIN = 15.0  # [m] texture beyond the world bounds, so the far ground is not cut off
HAZE_DISTANCE = 45.0  # [m] ground this far away is 63 % haze
NEAR_PLANE = 0.15  # [m] shapes nearer to the camera than this are not drawn
SKY_TOP = np.array([95, 140, 205], dtype=float)  # RGB
SKY_HORIZON = np.array([200, 215, 230], dtype=float)
GROUND_COLOURS = {  # RGB base colour and texture noise amplitude
    "grass": ((80, 130, 60), 22.0),
    "road": ((70, 70, 75), 8.0),
    "gravel": ((170, 155, 125), 20.0),
    "plaza": ((185, 175, 160), 8.0),
    "walkway": ((165, 160, 155), 7.0),
}
SHIRTS = [(200, 40, 40), (40, 80, 180), (240, 200, 40), (30, 140, 70), (230, 230, 230),
          (30, 30, 35), (150, 60, 160), (240, 120, 30), (90, 170, 200), (170, 120, 80)]
TROUSERS = [(30, 40, 80), (40, 40, 45), (110, 100, 80), (70, 70, 80), (20, 20, 25),
            (140, 130, 110)]
SKIN = [(245, 210, 180), (225, 180, 140), (190, 140, 100), (140, 95, 65), (95, 65, 45)]
LIGHT_DIRECTION = np.array([0.4, 0.5, 0.77])  # towards the sun, odom frame, unit length


def _unit_circle(count: int) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.column_stack([np.cos(angles), np.sin(angles)])


_UNIT_CIRCLE = {count: _unit_circle(count) for count in (6, 12, 16)}


def _part_slices(sizes: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    slices, start = {}, 0
    for name, size in sizes:
        slices[name] = (start, start + size)
        start += size
    return slices


# Layout of one person's points in CameraRenderer._people_geometry, in order.
PERSON_PARTS = _part_slices([("shadow", 12), ("legs", 24), ("legs_lit", 24), ("arm_a", 12),
                             ("arm_b", 12), ("torso", 24), ("torso_lit", 24), ("head", 3)])


def _circle_points(x: float, y: float, z: float, radius: float, count: int = 12) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.column_stack([x + radius * np.cos(angles), y + radius * np.sin(angles),
                            np.full(count, z)])


class GroundTexture:
    """A top-down RGB raster of the scenario's ground, with paving and grass texture."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator):
        xmin, ymin, xmax, ymax = scenario.bounds
        self.x0, self.y0 = xmin - TEXTURE_MARGIN, ymin - TEXTURE_MARGIN
        width = int(math.ceil((xmax - xmin + 2 * TEXTURE_MARGIN) / TEXTURE_RESOLUTION))
        height = int(math.ceil((ymax - ymin + 2 * TEXTURE_MARGIN) / TEXTURE_RESOLUTION))
        base, _ = GROUND_COLOURS[scenario.ground]
        self.border_colour = tuple(float(c) for c in base)
        # One noise field serves every surface; each scales it by its own amplitude.
        self.noise = self._noise(rng, height, width)
        self.image = np.empty((height, width, 3), dtype=np.uint8)
        whole = np.array([[self.x0, self.y0], [self.x0 + width * TEXTURE_RESOLUTION, self.y0],
                          [self.x0 + width * TEXTURE_RESOLUTION,
                           self.y0 + height * TEXTURE_RESOLUTION],
                          [self.x0, self.y0 + height * TEXTURE_RESOLUTION]])
        self._paint(scenario.ground, whole)
        for area in scenario.areas:
            self._paint(area.kind, np.asarray(area.polygon, dtype=float))
        for walkway in scenario.walkways:
            self._paint("walkway", walkway.polygon())

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        return np.round((points - [self.x0, self.y0]) / TEXTURE_RESOLUTION).astype(np.int32)

    @staticmethod
    def _noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        # Two octaves of blurred noise read as grass tufts and worn paving.
        fine = rng.standard_normal((height, width), dtype=np.float32)
        coarse = cv2.resize(rng.standard_normal((height // 16 + 1, width // 16 + 1),
                                                dtype=np.float32),
                            (width, height), interpolation=cv2.INTER_CUBIC)
        return cv2.addWeighted(cv2.GaussianBlur(fine, (3, 3), 0), 0.6, coarse, 0.6, 0.0)

    def _paint(self, kind: str, polygon: np.ndarray) -> None:
        """Fill ``polygon`` (odom) with the textured surface ``kind``."""
        pixels = self.to_pixels(polygon)
        height, width = self.image.shape[:2]
        c0, r0 = np.clip(pixels.min(axis=0), 0, [width, height])
        c1, r1 = np.clip(pixels.max(axis=0) + 1, 0, [width, height])
        if c1 <= c0 or r1 <= r0:
            return
        mask = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
        cv2.fillPoly(mask, [pixels - [c0, r0]], 1)
        mask = mask.astype(bool)
        base, amplitude = GROUND_COLOURS[kind]
        shade = amplitude * self.noise[r0:r1, c0:c1]
        layer = np.clip(np.asarray(base, np.float32)[None, None] + shade[..., None], 0, 255)
        rows, cols = np.ogrid[r0:r1, c0:c1]
        if kind in ("walkway", "plaza"):
            # Paving joints every 0.6 m so that motion over the ground is visible.
            step = int(round(0.6 / TEXTURE_RESOLUTION))
            joints = (rows % step == 0) | (cols % step == 0)
            layer[joints] *= 0.8
        elif kind == "road":
            centre_row = (polygon[:, 1].mean() - self.y0) / TEXTURE_RESOLUTION
            stripe = np.abs(rows - centre_row) * TEXTURE_RESOLUTION < 0.06
            dashes = (cols * TEXTURE_RESOLUTION) % 3.0 < 1.5
            layer[stripe & dashes] = (230, 230, 220)
        region = self.image[r0:r1, c0:c1]
        region[mask] = layer.astype(np.uint8)[mask]


class CameraRenderer:
    """Renders what the scenario's camera sees from a robot pose."""

    def __init__(self, scenario: Scenario, seed: int):
        self.scenario = scenario
        self.camera = scenario.camera
        self.seed = seed
        rng = np.random.default_rng(seed)
        light = scenario.lighting
        self.brightness = light.brightness * (1.0 + rng.uniform(-light.variation,
                                                                light.variation))
        # A slight per-episode colour cast (morning warm, overcast cool).
        self.tint = 1.0 + rng.uniform(-0.06, 0.06, size=3) * light.variation / 0.1
        gain = self.brightness * self.tint
        # Lighting applied by a per-channel lookup table: one pass, no float image.
        self.lighting_lut = np.clip(np.arange(256)[:, None] * gain[None], 0, 255).astype(
            np.uint8).reshape(256, 1, 3)
        self.texture = GroundTexture(scenario, rng)
        self._prepare_ground_lookup()
        self.obstacles = scenario.obstacles
        self._appearances: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _prepare_ground_lookup(self) -> None:
        cam = self.camera
        rows, cols = np.mgrid[0:cam.height, 0:cam.width]
        pixels = np.column_stack([cols.ravel() + 0.5, rows.ravel() + 0.5])
        ground, hits = cam.pixel_to_ground(pixels)
        hits = hits.reshape(cam.height, cam.width)
        # No roll: the horizon is a row, everything below it sees the ground.
        ground_rows = np.flatnonzero(hits.all(axis=1))
        self.first_ground_row = int(ground_rows[0]) if len(ground_rows) else cam.height
        n = self.first_ground_row * cam.width
        self.ground_bx = ground[n:, 0].reshape(-1, cam.width).astype(np.float32)
        self.ground_by = ground[n:, 1].reshape(-1, cam.width).astype(np.float32)
        distance = np.hypot(self.ground_bx, self.ground_by)
        haze = (1.0 - np.exp(-distance / HAZE_DISTANCE)).astype(np.float32)
        self.haze_weight = haze
        self.ground_weight = (1.0 - haze).astype(np.float32)
        self.haze_image = np.empty((len(self.ground_bx), cam.width, 3), dtype=np.uint8)
        self.haze_image[:] = SKY_HORIZON.astype(np.uint8)
        sky_rows = max(self.first_ground_row, 1)
        fraction = np.linspace(0.0, 1.0, sky_rows)[:, None]
        sky = (SKY_TOP * (1.0 - fraction) + SKY_HORIZON * fraction).astype(np.uint8)
        self.sky = np.repeat(sky[:, None, :], cam.width, axis=1)[:self.first_ground_row]

    def render_ground(self, robot: scene.Pose2D) -> np.ndarray:
        cam = self.camera
        image = np.empty((cam.height, cam.width, 3), dtype=np.uint8)
        image[:self.first_ground_row] = self.sky
        if self.first_ground_row < cam.height:
            # Python floats keep the maps float32 whatever scalar types the pose holds.
            c, s = math.cos(float(robot.yaw)), math.sin(float(robot.yaw))
            rx, ry = float(robot.x), float(robot.y)
            scale = 1.0 / TEXTURE_RESOLUTION
            map_x = (c * scale) * self.ground_bx - (s * scale) * self.ground_by + (
                (rx - self.texture.x0) * scale)
            map_y = (s * scale) * self.ground_bx + (c * scale) * self.ground_by + (
                (ry - self.texture.y0) * scale)
            ground = cv2.remap(self.texture.image, map_x, map_y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT,
                               borderValue=self.texture.border_colour)
            image[self.first_ground_row:] = cv2.blendLinear(
                ground, self.haze_image, self.ground_weight, self.haze_weight)
        return image

    # ------------------------------------------------------------------ shapes
    def _to_base(self, robot: scene.Pose2D, points: np.ndarray) -> np.ndarray:
        c, s = math.cos(robot.yaw), math.sin(robot.yaw)
        dx, dy = points[:, 0] - robot.x, points[:, 1] - robot.y
        return np.column_stack([c * dx + s * dy, -s * dx + c * dy, points[:, 2]])

    def _project(self, robot: scene.Pose2D, points: np.ndarray) -> np.ndarray | None:
        """Pixels of odom points, or None when any point is behind the near plane."""
        base = self._to_base(robot, points)
        depth = (base - self.camera.translation()) @ self.camera.rotation()[2]
        if np.any(depth < NEAR_PLANE):
            return None
        pixels, _ = self.camera.project(base)
        return np.clip(pixels, -1e4, 1e4)

    def _fill(self, image: np.ndarray, pixels: np.ndarray | None, colour) -> None:
        if pixels is None:
            return
        hull = cv2.convexHull(np.round(pixels * 4).astype(np.int32))
        cv2.fillConvexPoly(image, hull, tuple(int(v) for v in np.clip(colour, 0, 255)),
                           lineType=cv2.LINE_AA, shift=2)

    def _cylinder(self, image, robot, x, y, z0, z1, radius, colour) -> None:
        """A shaded vertical cylinder: dark silhouette, lit band towards the sun."""
        outline = np.vstack([_circle_points(x, y, z0, radius), _circle_points(x, y, z1, radius)])
        self._fill(image, self._project(robot, outline), np.asarray(colour) * 0.62)
        shift = 0.3 * radius * LIGHT_DIRECTION[:2] / np.linalg.norm(LIGHT_DIRECTION[:2])
        lit = np.vstack([_circle_points(x + shift[0], y + shift[1], z0, 0.62 * radius),
                         _circle_points(x + shift[0], y + shift[1], z1, 0.62 * radius)])
        self._fill(image, self._project(robot, lit), colour)

    def _shadow(self, image, robot, x, y, radius) -> None:
        ground_shift = -0.25 * LIGHT_DIRECTION[:2]
        outline = _circle_points(x + ground_shift[0], y + ground_shift[1], 0.005, radius * 1.3)
        pixels = self._project(robot, outline)
        if pixels is None:
            return
        centre = np.clip(pixels.mean(axis=0), 0, [image.shape[1] - 1, image.shape[0] - 1])
        under = image[int(centre[1]), int(centre[0])].astype(float)
        self._fill(image, pixels, under * 0.6)

    def _appearance(self, person_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shirt, trousers and skin colours, fixed per person for the whole episode."""
        person_id = int(person_id)
        if person_id not in self._appearances:
            rng = np.random.default_rng([self.seed, person_id])
            shirt = np.array(SHIRTS[rng.integers(len(SHIRTS))]) * rng.uniform(0.8, 1.1)
            trousers = np.array(TROUSERS[rng.integers(len(TROUSERS))]) * rng.uniform(0.8, 1.1)
            skin = np.array(SKIN[rng.integers(len(SKIN))], dtype=float)
            self._appearances[person_id] = (shirt, trousers, skin)
        return self._appearances[person_id]

    def _people_geometry(self, robot: scene.Pose2D, people) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (K, P, 2) and depths (K, P) of every person's body points in one projection.

        Point layout per person is ``PERSON_PARTS``: shadow ring, legs, arms, torso
        (silhouette rings and a smaller lit ring shifted towards the sun) and head.
        """
        k = people.count
        x, y = people.positions[:, 0:1], people.positions[:, 1:2]
        radius, scale = people.radii[:, None], (people.heights / 1.75)[:, None]
        speed = np.hypot(people.velocities[:, 0], people.velocities[:, 1])[:, None]
        # Facing the walking direction; people standing still face +x.
        fx = np.where(speed > 0.1, people.velocities[:, 0:1] / np.maximum(speed, 1e-9), 1.0)
        fy = np.where(speed > 0.1, people.velocities[:, 1:2] / np.maximum(speed, 1e-9), 0.0)
        side_x, side_y = -fy * (radius + 0.045 * scale), fx * (radius + 0.045 * scale)
        light = LIGHT_DIRECTION[:2] / np.linalg.norm(LIGHT_DIRECTION[:2])
        zero = np.zeros((k, 1))

        def ring(cx, cy, r, z, count=12):
            unit = _UNIT_CIRCLE[count]
            return np.stack([cx + r * unit[:, 0], cy + r * unit[:, 1],
                             np.broadcast_to(z, (k, count))], axis=-1)

        def column(cx, cy, r, z0, z1, count=12):
            return np.concatenate([ring(cx, cy, r, z0, count), ring(cx, cy, r, z1, count)], axis=1)

        def lit(cx, cy, r, z0, z1, count=12):
            return column(cx + 0.3 * r * light[0], cy + 0.3 * r * light[1], 0.62 * r, z0, z1,
                          count)

        leg_r, hip, shoulder = 0.75 * radius, 0.85 * scale, 1.45 * scale
        arm_r, arm_low = 0.055 * scale, 0.8 * scale
        head_r = 0.12 * scale
        head_z = people.heights[:, None] - head_r
        parts = [
            ring(x - 0.25 * light[0], y - 0.25 * light[1], 1.3 * radius, 0.005 + zero),
            column(x, y, leg_r, zero, hip), lit(x, y, leg_r, zero, hip),
            column(x + side_x, y + side_y, arm_r, arm_low, shoulder - 0.03, 6),
            column(x - side_x, y - side_y, arm_r, arm_low, shoulder - 0.03, 6),
            column(x, y, radius, hip, shoulder), lit(x, y, radius, hip, shoulder),
            np.stack([np.concatenate([x, x, x + 0.35 * head_r * LIGHT_DIRECTION[0]], axis=1),
                      np.concatenate([y, y, y + 0.35 * head_r * LIGHT_DIRECTION[1]], axis=1),
                      np.concatenate([head_z, head_z + head_r,
                                      head_z + 0.35 * head_r * LIGHT_DIRECTION[2]], axis=1)],
                     axis=-1),
        ]
        points = np.concatenate(parts, axis=1)
        flat = self._to_base(robot, points.reshape(-1, 3))
        depth = (flat - self.camera.translation()) @ self.camera.rotation()[2]
        pixels, _ = self.camera.project(flat)
        return (np.clip(pixels, -1e4, 1e4).reshape(k, -1, 2), depth.reshape(k, -1))

    def _person(self, image, person_id, pixels: np.ndarray, depth: np.ndarray) -> None:
        shirt, trousers, skin = self._appearance(person_id)

        def part(name):
            start, stop = PERSON_PARTS[name]
            if depth[start:stop].min() < NEAR_PLANE:
                return None
            return pixels[start:stop]

        shadow = part("shadow")
        if shadow is not None:
            centre = np.clip(shadow.mean(axis=0), 0, [image.shape[1] - 1, image.shape[0] - 1])
            self._fill(image, shadow, image[int(centre[1]), int(centre[0])].astype(float) * 0.6)
        # The arm further from the camera goes behind the body, the nearer one in front.
        arms = sorted(("arm_a", "arm_b"), key=lambda name: -depth[
            PERSON_PARTS[name][0]:PERSON_PARTS[name][1]].mean())
        self._fill(image, part(arms[0]), shirt * 0.55)
        self._fill(image, part("legs"), trousers * 0.62)
        self._fill(image, part("legs_lit"), trousers)
        self._fill(image, part("torso"), shirt * 0.62)
        self._fill(image, part("torso_lit"), shirt)
        self._fill(image, part(arms[1]), shirt * 0.8)
        head = part("head")
        if head is not None:
            radius = float(np.linalg.norm(head[1] - head[0]))
            self._disc(image, head[0], radius, skin * 0.7)
            self._disc(image, head[2], 0.65 * radius, skin)

    @staticmethod
    def _disc(image, centre, radius, colour) -> None:
        cv2.circle(image, tuple(int(v) for v in np.round(centre * 4)),
                   max(1, int(round(radius * 4))),
                   tuple(int(v) for v in np.clip(colour, 0, 255)), -1, cv2.LINE_AA, shift=2)

    def _obstacle(self, image, robot, obstacle: ObstacleSpec) -> None:
        colour = np.asarray(obstacle.color, dtype=float)
        if obstacle.shape == "circle":
            self._shadow(image, robot, obstacle.x, obstacle.y, obstacle.radius)
            self._cylinder(image, robot, obstacle.x, obstacle.y, 0.0, obstacle.height,
                           obstacle.radius, colour)
            top = _circle_points(obstacle.x, obstacle.y, obstacle.height, obstacle.radius, 16)
            if self.camera.mount_z > obstacle.height:
                self._fill(image, self._project(robot, top), colour * 1.15)
            return
        corners = obstacle.corners()
        bottom = np.column_stack([corners, np.zeros(4)])
        top = np.column_stack([corners, np.full(4, obstacle.height)])
        camera_odom = self._camera_position(robot)
        # Each visible face of the convex box, shaded by how squarely it faces the sun.
        for k in range(4):
            a, b = k, (k + 1) % 4
            face = np.array([bottom[a], bottom[b], top[b], top[a]])
            edge = corners[b] - corners[a]
            normal = np.array([edge[1], -edge[0], 0.0]) / max(np.linalg.norm(edge), 1e-9)
            if (face.mean(axis=0) - camera_odom) @ normal < 0.0:
                shade = 0.55 + 0.45 * max(0.0, float(normal @ LIGHT_DIRECTION))
                self._fill(image, self._project(robot, face), colour * shade)
        if camera_odom[2] > obstacle.height:
            self._fill(image, self._project(robot, top), colour * 1.1)

    def _camera_position(self, robot: scene.Pose2D) -> np.ndarray:
        c, s = math.cos(robot.yaw), math.sin(robot.yaw)
        mx = self.camera.mount_x
        return np.array([robot.x + c * mx, robot.y + s * mx, self.camera.mount_z])

    def drawing_order(self, robot: scene.Pose2D, people) -> list[tuple[str, object]]:
        """Painter's order, far to near: ('obstacle', spec) and ('person', index) items.

        Obstacles go far to near by their footprint's nearest point; each person
        (far to near) is then placed just before the first obstacle that stands
        between them and the camera, or last if none does. Unlike sorting by
        distance alone this is right for a person in front of the far end of a
        long wall whose nearest point is much closer than the person.
        """
        camera_xy = self._camera_position(robot)[:2]
        heading = np.array([math.cos(robot.yaw), math.sin(robot.yaw)])
        obstacles = [o for o in self.obstacles
                     if (np.array([o.x, o.y]) - camera_xy) @ heading + o.footprint_radius
                     > NEAR_PLANE]
        obstacles.sort(key=lambda o: -o.distance_to(camera_xy[0], camera_xy[1]))
        order: list[tuple[str, object]] = [("obstacle", o) for o in obstacles]
        offsets = people.positions - camera_xy
        visible = np.flatnonzero(offsets @ heading + people.radii > NEAR_PLANE)
        distance = np.hypot(offsets[:, 0], offsets[:, 1])
        last_person = -1
        for k in sorted(visible.tolist(), key=lambda i: -distance[i]):
            blockers = [i for i, (kind, item) in enumerate(order)
                        if kind == "obstacle" and item.blocks_segment(camera_xy,
                                                                      people.positions[k])]
            # People keep their own far-to-near order even if that conflicts.
            position = max(min(blockers, default=len(order)), last_person + 1)
            order.insert(position, ("person", k))
            last_person = position
        return order

    def render(self, robot: scene.Pose2D, people) -> np.ndarray:
        """(H, W, 3) uint8 RGB image from ``robot``; ``people`` is a world.PeopleState."""
        image = self.render_ground(robot)
        if people.count:
            person_pixels, person_depth = self._people_geometry(robot, people)
        for kind, item in self.drawing_order(robot, people):
            if kind == "obstacle":
                self._obstacle(image, robot, item)
            else:
                self._person(image, people.ids[item], person_pixels[item], person_depth[item])
        return cv2.LUT(image, self.lighting_lut)
