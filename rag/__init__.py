"""Offline study assistant over Korean AWS SysOps notes.

OpenMP (used by the e5 engine and FAISS) defaults to one thread here: on a
2-core machine shared with other work, multi-threaded single-query encoding
has a tail of seconds (measured median 79 ms / max 1.8 s with the default,
28 ms / 37 ms with one thread), and batch answering parallelises across
requests instead. Set OMP_NUM_THREADS yourself to override.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
