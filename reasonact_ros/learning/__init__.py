"""Learning a camera person detector and walkway segmenter from the built-in simulator.

``collect``    renders labelled frames (person boxes, instance ids, walkway mask)
``dataset``    writes and reads such a data directory (manifest with sha256 per file)
``model``      a small fully-convolutional network: CenterNet-style people + walkway mask
``train``      trains it on CPU, deterministic under a seed, saves a versioned model file
``evaluation`` mAP@0.5, recall, precision, walkway IoU and fps of any detector on a data set
``commands``   the ``reasonact collect | train | eval-detector`` subcommands

Torch is imported only by ``model``, ``train`` and ``evaluation``.
"""

# OMP_WAIT_POLICY=PASSIVE is set by the package __init__, before torch loads.
