"""Gunicorn settings shared by `make serve`, the tests' servers and the benchmarks (gunicorn reads this file
from the folder it starts in; `make serve` names it).

A worker builds the app, then freezes what it built out of the garbage collector's sight: a full
collection otherwise walks every object of the app (definitions, templates, modules) and stopped every
thread of the worker for 20 to 30 ms under load, the batched API's slowest requests.
"""

import gc


def post_worker_init(worker):
    gc.freeze()
