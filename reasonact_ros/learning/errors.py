"""The learning package's user-facing errors: ValueErrors with one-line messages.

Kept free of torch so that the command line can catch them without loading it.
"""


class CollectError(ValueError):
    """Bad collection request (unknown scenario, bad frame count or seed, used directory)."""


class DataSetError(ValueError):
    """A data directory that cannot be used at all (the message names it)."""


class TrainingError(ValueError):
    """Bad training request (bad epochs or seed, unreadable data while loading)."""


class ModelFormatError(ValueError):
    """A model file that is missing, corrupt, foreign, or from another format version."""


class DetectorChoiceError(ValueError):
    """An unknown or unavailable detector name (e.g. 'ssd' without its package)."""


ERRORS = (CollectError, DataSetError, TrainingError, ModelFormatError, DetectorChoiceError)
