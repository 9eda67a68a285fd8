"""Stands in for ipywidgets in the kernels of timing runs (tests/bench_lessons.py).

A headless run has no front end to draw a slider, and nbclient sometimes never returns from a
cell that opens widget comms (jupyter/nbclient#312: the client waits for an execute_reply that
it has already missed; seen here on lesson 04's slider after the last cell had run). With this
package first on the kernel's path, ``import ipywidgets`` fails and each lesson takes its
documented fallback (a static figure), so the timing run cannot hang.
"""

raise ImportError("ipywidgets is left out of headless timing runs (no front end; nbclient#312)")
