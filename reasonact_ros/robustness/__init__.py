"""Robustness tooling: fuzz message generators, closed-loop fault injection, attack sets.

Nothing here is imported by the nodes; it drives them from outside, over the same
topics a robot would use (see docs/SAFETY.md for what each tool proves).
"""
