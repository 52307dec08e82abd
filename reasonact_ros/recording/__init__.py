"""Recording, replaying and analysing rosbag2 bags (mcap or sqlite3) without rosbag2.

``bagfile`` reads and writes bags with the pure-Python ``rosbags`` package and
embeds every message definition, this package's own included, so a bag is
readable where reasonact_ros is not installed. ``recorder`` is the BagRecorder
node, ``player`` replays a bag onto live topics, ``analysis`` runs perception
and reasoning offline on a bag, and ``commands`` adds `reasonact replay` and
`reasonact analyze` to the CLI.
"""
