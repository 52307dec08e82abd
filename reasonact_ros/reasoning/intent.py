"""Instruction grounding: free text → an ``Intent`` the rules and the validator can use.

What an instruction can do: name a goal (a configured place, or a pose such as
"go to x 5 y 2"), lower the speed ("slowly", "half speed", "0.8 m/s"), ask for
more room around people ("keep 1.5 m from people"), keep left or right, wait,
resume, follow the walkway, or clear earlier constraints. It can never raise a
limit: speeds are capped at ``Limits.max_linear_speed`` and clearances are kept
within ``[min_person_clearance, max_person_clearance]``.

How: the text is screened first (length, control characters, script, attempts
to override the safety rules or to hurt people — all refused with a one-line
reason), then split into clauses. Each clause is matched by keywords and, when
an embedder is given, by cosine similarity of its sentence embedding to the
intent prototypes in ``config/reasoning/intent_prototypes.yaml``. Numbers with
units are read by regular expressions. A clause nothing matches is reported;
an instruction where nothing matches is refused, and the caller keeps the
previous intent.

A new instruction updates the previous intent: fields it mentions change, the
rest stay ("go to the kitchen", then "slow down" → still going to the kitchen).
"Reset"/"cancel" clears everything.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from reasonact_ros.scene import Limits


def _config_dir() -> Path:
    """config/reasoning beside the package in a checkout, else in the installed share dir."""
    checkout = Path(__file__).resolve().parents[2] / "config" / "reasoning"
    if checkout.is_dir():
        return checkout
    from reasonact_ros.share import share_path

    return share_path("config", "reasoning")


CONFIG_DIR = _config_dir()
MAX_INSTRUCTION_CHARS = 500  # a spoken or typed command; anything longer is not one
MAX_EMBEDDED_CHARS = 200  # a clause is cut to this before it reaches the embedder
MAX_POSE_COORDINATE_M = 1000.0
SLOW_SPEED_MPS = 0.5
VERY_SLOW_SPEED_MPS = 0.3
SLIGHTLY_SLOWER_SPEED_MPS = 0.7  # below the rules' 1.0 m/s cruise, so it is slower
STOPPED_SPEED_MPS = 0.05  # asking for less than this is asking to wait
DEFAULT_EXTRA_CLEARANCE_M = 1.5  # "give people more space" without a number
GENEROUS_CLEARANCE_M = 2.0  # "stay well away from people"
EMBEDDING_MIN_SIMILARITY = 0.55
EMBEDDING_MIN_MARGIN = 0.03  # over the best off-topic prototype


class InstructionRefused(ValueError):  # noqa: N818 - the integrator's API name
    """An instruction that cannot or must not be followed; str(e) says why in one line."""


@dataclass(frozen=True)
class Intent:
    """What the operator asked for, already bounded by the configured limits."""

    goal_name: str | None = None
    goal_xy: tuple[float, float] | None = None
    max_speed: float | None = None  # [m/s], never above Limits.max_linear_speed
    min_distance: float | None = None  # [m] to people, within the Limits clearance range
    keep_side: str | None = None  # 'left' | 'right'
    wait: bool = False
    follow_walkway: bool = False
    text: str = ""  # the (sanitised) instruction that produced this intent
    notes: tuple[str, ...] = ()  # what was capped, ignored or assumed

    def describe(self) -> str:
        parts = []
        if self.goal_xy is not None:
            name = f"{self.goal_name} " if self.goal_name else ""
            parts.append(f"go to {name}({self.goal_xy[0]:.1f}, {self.goal_xy[1]:.1f})")
        if self.wait:
            parts.append("wait")
        if self.max_speed is not None:
            parts.append(f"at most {self.max_speed:.2f} m/s")
        if self.min_distance is not None:
            parts.append(f"keep {self.min_distance:.1f} m from people")
        if self.keep_side:
            parts.append(f"keep {self.keep_side}")
        if self.follow_walkway:
            parts.append("follow the walkway")
        return "; ".join(parts) if parts else "no constraints"


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) unit-length rows, one per text."""


# --- screening --------------------------------------------------------------------------------

_HOSTILE_PATTERNS = [
    (r"\b(ignore|disregard|forget|override|bypass|disable|turn off|switch off|skip)\b"
     r".{0,40}\b(rules?|instructions?|limits?|safety|constraints?|guard ?rails?|"
     r"programming|prompt|system)\b", "it asks to override the safety rules"),
    (r"\b(you are now|you're now|from now on you|act as|pretend|jailbreak|developer mode|"
     r"new instructions?|system prompt)\b",
     "it tries to change who I am instead of giving a driving instruction"),
    # "be careful not to hit anyone" is a safe instruction, not a harmful one.
    (r"(?<!\bnot to )(?<!\bdon't )(?<!\bdo not )(?<!\bnever )(?<!\bwithout )(?<!\bavoid )"
     r"\b(hit|ram|run over|crash into|bump into|chase|knock (?:over|down)|hurt|attack)\b",
     "it asks to harm someone or something"),
    (r"\b(into|through|at|over)\s+(the\s+|a\s+|that\s+|those\s+)?"
     r"(crowd|people|person|pedestrians?|child|children|kids?|man|woman|group)\b",
     "it asks to drive at or into people"),
    (r"\b(don'?t|do not|never|no need to)\s+(stop|slow|yield|brake|wait)\w*\s+"
     r"(for|near|around)\b", "it asks not to stop for people"),
    (r"\b(max(imum)? speed|speed limit|limits?)\b.{0,20}\b(raise|increase|remove|lift)\b|"
     r"\b(raise|increase|remove|lift)\b.{0,20}\b(max(imum)? speed|speed limit|limits?)\b",
     "instructions can lower the limits but never raise them"),
]
_CONTROL_OK = {"\t", "\n", "\r"}


def sanitize_instruction(text: str) -> str:
    """Whitespace-normalised text, or InstructionRefused for anything that is not a command."""
    if not isinstance(text, str):
        raise InstructionRefused(f"an instruction must be text, got {type(text).__name__}")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InstructionRefused(
            f"instruction too long ({len(text)} characters; at most {MAX_INSTRUCTION_CHARS})")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in _CONTROL_OK for c in text):
        raise InstructionRefused("instruction contains control characters")
    text = unicodedata.normalize("NFKC", text)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InstructionRefused("empty instruction")
    letters = [c for c in cleaned if c.isalpha()]
    if letters:
        latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
        if latin / len(letters) < 0.8:
            raise InstructionRefused("only English instructions are understood")
    for word in cleaned.split():
        # A Latin word with a Cyrillic or Greek look-alike letter in it ("hіt") is a
        # homoglyph trick to slip past the hostile-phrase screen, never an honest typo.
        scripts = {unicodedata.name(c, "?").split()[0] for c in word if c.isalpha()}
        if "LATIN" in scripts and len(scripts) > 1:
            raise InstructionRefused(f"the word {word!r} mixes alphabets (look-alike letters)")
    return cleaned


def screen_hostile(text: str) -> None:
    lowered = text.lower()
    for pattern, reason in _HOSTILE_PATTERNS:
        if re.search(pattern, lowered):
            raise InstructionRefused(f"refused: {reason}")


# --- numbers and units ------------------------------------------------------------------------

_NUMBER = r"(-?\d+(?:\.\d+)?|-?\.\d+)"
_SPEED_UNITS = {
    "m/s": 1.0, "mps": 1.0, "meters per second": 1.0, "metres per second": 1.0,
    "meter per second": 1.0, "metre per second": 1.0, "m per s": 1.0,
    "km/h": 1.0 / 3.6, "kmh": 1.0 / 3.6, "kph": 1.0 / 3.6, "kilometers per hour": 1.0 / 3.6,
    "kilometres per hour": 1.0 / 3.6, "cm/s": 0.01, "centimeters per second": 0.01,
    "centimetres per second": 0.01, "mph": 0.44704, "miles per hour": 0.44704,
}
_DISTANCE_UNITS = {
    "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
    "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01, "centimetre": 0.01,
    "centimetres": 0.01, "ft": 0.3048, "foot": 0.3048, "feet": 0.3048,
    "mm": 0.001, "millimeters": 0.001, "millimetres": 0.001,
}
_WORD_NUMBERS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "half a": "0.5",
    "a half": "0.5", "one and a half": "1.5",
}


def _alternation(units: Mapping[str, float]) -> str:
    return "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))


_SPEED_RE = re.compile(rf"{_NUMBER}\s*({_alternation(_SPEED_UNITS)})(?![\w/])")
_DISTANCE_RE = re.compile(rf"{_NUMBER}\s*({_alternation(_DISTANCE_UNITS)})(?![\w/])")
_POSE_RES = [
    re.compile(rf"\bx\s*[=:]?\s*{_NUMBER}\s*(?:m\b)?\s*,?\s*(?:and\s+)?y\s*[=:]?\s*{_NUMBER}"),
    re.compile(rf"\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)"),
    re.compile(rf"\b(?:coordinates?|position|point|pose)\s*{_NUMBER}\s*[, ]\s*{_NUMBER}"),
]
_PERCENT_RE = re.compile(rf"{_NUMBER}\s*(?:%|percent)")


def _words_to_digits(text: str) -> str:
    for word in sorted(_WORD_NUMBERS, key=len, reverse=True):
        text = re.sub(rf"\b{word}\b", _WORD_NUMBERS[word], text)
    return text


def extract_speed(text: str) -> float | None:
    """A speed with a unit in ``text`` as [m/s], or None."""
    match = _SPEED_RE.search(text)
    if not match:
        return None
    return float(match.group(1)) * _SPEED_UNITS[match.group(2)]


def extract_distance(text: str) -> float | None:
    """A distance with a unit in ``text`` as [m], or None (speeds are not distances)."""
    without_speeds = _SPEED_RE.sub(" ", text)
    match = _DISTANCE_RE.search(without_speeds)
    if not match:
        return None
    return float(match.group(1)) * _DISTANCE_UNITS[match.group(2)]


def extract_pose(text: str) -> tuple[tuple[float, float], tuple[int, int]] | None:
    """(x, y) and the matched span, or None."""
    for pattern in _POSE_RES:
        match = pattern.search(text)
        if match:
            return (float(match.group(1)), float(match.group(2))), match.span()
    return None


# --- clause categories ------------------------------------------------------------------------

CATEGORIES = ("go_to", "slow_down", "speed_up", "keep_distance", "keep_side", "wait", "resume",
              "follow_walkway", "reset")

# Keywords are precise; embeddings catch the paraphrases keywords miss.
_KEYWORDS = [
    ("reset", r"\b(reset|cancel|clear)\b.*\b(constraints?|instructions?|everything|all|that)\b|"
              r"^(reset|cancel|never ?mind|as you were)\b|\bback to normal\b"),
    ("follow_walkway", r"\b(follow|stay on|keep to|stick to|keep on|use)\b.{0,20}"
                       r"\b(walkway|path|sidewalk|pavement|footpath|trail|lane)\b"),
    ("keep_side", r"\b(keep|stay|drive|walk|go|move)\b.{0,15}\b(left|right)\b"
                  r"(?! (now|away|there|here))|"
                  r"\b(left|right)[- ]hand side\b|\bon the (left|right)\b"),
    ("keep_distance", r"\b(distance|clearance|space|(more|some|enough|plenty of) room|berth|"
                      r"away from|apart|"
                      r"from (people|pedestrians|persons|everyone|others))\b"),
    ("slow_down", r"\b(slow\w*|careful\w*|caution\w*|gentl\w*|easy|crawl\w*|half[- ]speed|"
                  r"walking pace|no (faster|more) than|at most|not faster|max(imum)?|"
                  r"limit|speed|m/s|km/h|mph|cm/s)\b"),
    ("speed_up", r"\b(full speed|hurry|faster|speed up|quick\w*|normal speed|"
                 r"as fast as)\b"),
    ("wait", r"\b(wait|stop|halt|hold on|hold still|hold it|stay here|stay put|pause|freeze|"
             r"stand still|don'?t move)\b"),
    ("resume", r"\b(continue|resume|carry on|go on|go ahead|proceed|keep going|move on|"
               r"get going|start moving|let'?s go|let'?s move|unpause)\b"),
    ("go_to", r"\b(go|head|drive|move|navigate|take me|bring me|return|get|travel|walk|"
              r"come|ride)\b.{0,12}\b(to|towards|back)\b"),
]
_FILLER_RE = re.compile(r"(please|thanks?|thank you|ok(ay)?|now|robot|hey|the goal|go|then)"
                        r"( \w+)?")
_NEGATION_RE = re.compile(r"\b(don'?t|do not|no need to|no more|stop waiting|stop pausing)\b")


@dataclass(frozen=True)
class ClauseMatch:
    category: str | None
    similarity: float  # 1.0 for a keyword match


def load_prototypes(path: Path | None = None) -> dict[str, list[str]]:
    path = path or CONFIG_DIR / "intent_prototypes.yaml"
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    return {str(k): [str(s) for s in v] for k, v in data["prototypes"].items()}


def load_places(path: Path | None = None) -> dict[str, tuple[float, float]]:
    path = path or CONFIG_DIR / "places.yaml"
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    return {str(name): (float(xy[0]), float(xy[1])) for name, xy in data["places"].items()}


class InstructionGrounder:
    """Turns instructions into intents; thread-compatible, holds no mutable state per call."""

    def __init__(self, places: Mapping[str, tuple[float, float]] | None = None,
                 limits: Limits | None = None, embedder: Embedder | None = None,
                 prototypes: Mapping[str, Sequence[str]] | None = None):
        self.limits = limits or Limits()
        self.places = {self._normalise_place(name): (name, (float(xy[0]), float(xy[1])))
                       for name, xy in (places or {}).items()}
        self.embedder = embedder
        self._prototype_labels: list[str] = []
        self._prototype_vectors: np.ndarray | None = None
        if embedder is not None:
            prototypes = prototypes if prototypes is not None else load_prototypes()
            sentences = []
            for label, examples in prototypes.items():
                for example in examples:
                    self._prototype_labels.append(label)
                    sentences.append(example)
            self._prototype_vectors = np.asarray(embedder.embed(sentences), dtype=np.float32)

    @staticmethod
    def _normalise_place(name: str) -> str:
        return " ".join(re.sub(r"[_\-]+", " ", name.lower()).split())

    # -- public ----------------------------------------------------------------------------

    def ground(self, text: str, previous: Intent | None = None) -> Intent:
        """The intent after ``text``, starting from ``previous``; raises InstructionRefused."""
        cleaned = sanitize_instruction(text)
        screen_hostile(cleaned)
        lowered = _words_to_digits(cleaned.lower())
        base = previous if previous is not None else Intent()
        changes: dict[str, object] = {}
        notes: list[str] = []
        grounded_anything = False

        pose = extract_pose(lowered)
        if pose is not None:
            (x, y), span = pose
            if not all(math.isfinite(v) and abs(v) <= MAX_POSE_COORDINATE_M for v in (x, y)):
                raise InstructionRefused(
                    f"goal ({x}, {y}) is outside ±{MAX_POSE_COORDINATE_M:.0f} m")
            changes.update(goal_name=None, goal_xy=(x, y), wait=False)
            lowered = lowered[:span[0]] + " the goal " + lowered[span[1]:]
            grounded_anything = True

        place = self._find_place(lowered)
        if place is not None:
            # "living room" must not read as "room" (space); the place is handled here.
            lowered = re.sub(rf"\b{re.escape(place[0])}\b", " the place ", lowered)
        for clause in self._clauses(lowered):
            categories = self.classify_clause(clause)
            if not categories:
                if not _FILLER_RE.fullmatch(clause):
                    notes.append(f"ignored '{clause[:40]}'")
                continue
            for category in categories:
                applied = self._apply(category, clause, place, pose is not None, changes, notes)
                grounded_anything = grounded_anything or applied

        if not grounded_anything:
            raise InstructionRefused(
                f"could not understand '{cleaned[:60]}': I can go to a named place or an "
                "x/y pose, go slower, keep a distance from people, keep left or right, "
                "wait, continue, or follow the walkway")
        if changes.get("reset"):
            base = Intent()
            changes.pop("reset")
        intent = dataclasses.replace(base, text=cleaned[:200], notes=tuple(notes), **changes)
        return intent

    def classify_clause(self, clause: str) -> tuple[str, ...]:
        """The categories a clause asks for: keywords first, else the nearest prototype."""
        found = [category for category, pattern in _KEYWORDS if re.search(pattern, clause)]
        if "reset" in found:
            return ("reset",)
        if "speed_up" in found and "slow_down" in found:
            # "no faster than 0.8 m/s" lowers the speed; "speed up" raises it back to the limit.
            has_number = extract_speed(clause) is not None or _PERCENT_RE.search(clause)
            limiting = re.search(r"\b(no|not|never|at most|max\w*|under|below)\b", clause)
            found.remove("speed_up" if has_number or limiting else "slow_down")
        if "wait" in found and "resume" in found:
            found.remove("wait" if re.search(r"\bstop (waiting|pausing)\b", clause) else "resume")
        if "go_to" in found and "keep_side" in found and "the place" not in clause:
            found.remove("go_to")  # "walk to the left side" is a side, not a destination
        if "the place" in clause and "go_to" not in found:
            found.append("go_to")  # "continue to the lab", "reception please"
        if found:
            return tuple(found)
        match = self._classify_by_embedding(clause)
        return (match.category,) if match.category else ()

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _clauses(text: str) -> list[str]:
        parts = re.split(r"\s*(?:[,;!?]|\.(?!\d)|\band then\b|\bthen\b|\band\b|\bbut\b|"
                         r"\bwhile\b|\balso\b)\s*", text)
        return [p.strip(" .") for p in parts if p and p.strip(" .")]

    def _classify_by_embedding(self, clause: str) -> ClauseMatch:
        if self.embedder is None or self._prototype_vectors is None:
            return ClauseMatch(None, 0.0)
        vector = np.asarray(self.embedder.embed([clause[:MAX_EMBEDDED_CHARS]]), np.float32)[0]
        similarities = self._prototype_vectors @ vector
        best_by_label: dict[str, float] = {}
        for label, similarity in zip(self._prototype_labels, similarities, strict=True):
            best_by_label[label] = max(best_by_label.get(label, -1.0), float(similarity))
        off_topic = best_by_label.pop("off_topic", -1.0)
        label, similarity = max(best_by_label.items(), key=lambda item: item[1])
        if similarity < EMBEDDING_MIN_SIMILARITY or similarity < off_topic + EMBEDDING_MIN_MARGIN:
            return ClauseMatch(None, similarity)
        return ClauseMatch(label, similarity)

    def _find_place(self, text: str) -> tuple[str, str, tuple[float, float]] | None:
        """(normalised key, configured name, xy) of the longest place named in ``text``."""
        found = None
        for key, (name, xy) in self.places.items():
            if re.search(rf"\b{re.escape(key)}\b", text) and (found is None
                                                               or len(key) > len(found[0])):
                found = (key, name, xy)
        return found

    def _apply(self, category: str, clause: str, place, have_pose: bool,
               changes: dict, notes: list[str]) -> bool:
        limits = self.limits
        if category == "go_to":
            if place is not None:
                changes.update(goal_name=place[1], goal_xy=place[2], wait=False)
                return True
            if have_pose:
                return True
            destination = re.sub(r"^.*?\b(to|towards|back)\b\s*(the\s+)?", "", clause).strip()
            known = ", ".join(sorted(name for name, _ in self.places.values())) or "none"
            raise InstructionRefused(
                f"unknown place '{destination[:40]}' (known places: {known})")
        if category == "reset":
            changes.clear()
            changes["reset"] = True
            return True
        if category == "wait":
            changes["wait"] = not (_NEGATION_RE.search(clause)
                                   and not re.search(r"\bdon'?t move\b", clause))
            return True
        if category == "resume":
            changes["wait"] = False
            return True
        if category == "follow_walkway":
            negated = re.search(r"\b(don'?t|do not|leave|stop)\b", clause)
            changes["follow_walkway"] = not negated
            return True
        if category == "keep_side":
            side = "left" if "left" in clause else "right" if "right" in clause else None
            if side is None:
                notes.append("no side named; keeping right")
                side = "right"
            changes["keep_side"] = side
            return True
        if category == "keep_distance":
            distance = extract_distance(clause)
            if distance is None:
                generous = re.search(r"\b(well|far|plenty|lots|wide|lot)\b", clause)
                distance = GENEROUS_CLEARANCE_M if generous else DEFAULT_EXTRA_CLEARANCE_M
                notes.append(f"no distance given; using {distance:.1f} m")
            bounded = min(max(distance, limits.min_person_clearance),
                          limits.max_person_clearance)
            if bounded != distance:
                notes.append(f"distance {distance:.2f} m bounded to {bounded:.2f} m")
            changes["min_distance"] = bounded
            return True
        if category == "speed_up":
            changes["max_speed"] = None
            notes.append(f"speed up to the configured limit {limits.max_linear_speed:.2f} m/s")
            return True
        if category == "slow_down":
            return self._apply_speed(clause, changes, notes)
        raise ValueError(f"unknown category {category!r}")  # a programming error

    def _apply_speed(self, clause: str, changes: dict, notes: list[str]) -> bool:
        limit = self.limits.max_linear_speed
        speed = extract_speed(clause)
        if speed is None:
            percent = _PERCENT_RE.search(clause)
            if percent:
                speed = limit * float(percent.group(1)) / 100.0
            elif re.search(r"\bhalf[- ]speed\b|\bhalf (the|your) speed\b", clause):
                speed = limit * 0.5
            elif re.search(r"\b(very|really|extra|super) slow\w*|\bcrawl\w*", clause):
                speed = VERY_SLOW_SPEED_MPS
            elif re.search(r"\b(bit|little|slightly|somewhat) slower\b", clause):
                speed = SLIGHTLY_SLOWER_SPEED_MPS
            elif re.search(r"\bwalking pace\b", clause):
                speed = 1.0
            else:
                speed = SLOW_SPEED_MPS
        if not math.isfinite(speed):
            raise InstructionRefused("speed must be a finite number")
        if speed < STOPPED_SPEED_MPS:
            changes["wait"] = True
            notes.append("a speed of zero means wait")
            return True
        bounded = min(speed, limit)
        if bounded < speed:
            notes.append(f"speed {speed:.2f} m/s capped at the limit {limit:.2f} m/s")
        changes["max_speed"] = bounded
        return True
