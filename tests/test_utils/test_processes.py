"""Tests of vitkd_mm.utils.processes."""
import multiprocessing
import os
import time
from multiprocessing import connection

import pytest

from vitkd_mm.utils import fresh_process_pool


def test_each_task_runs_in_a_fresh_process():
    with fresh_process_pool() as pool:
        first = pool.submit(os.getpid).result()
        second = pool.submit(os.getpid).result()
    assert len({first, second, os.getpid()}) == 3


def test_an_error_in_the_block_ends_the_tasks_in_progress():
    """Ctrl-C (or a failed run) while tasks run: the block does not wait
    for them, their processes are terminated."""
    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        with fresh_process_pool(2) as pool:
            for _ in range(3):
                pool.submit(time.sleep, 600)
            deadline = time.time() + 60
            while (len(set(multiprocessing.active_children()) - before) < 2
                   and time.time() < deadline):
                time.sleep(0.1)
            started = set(multiprocessing.active_children()) - before
            raise KeyboardInterrupt
    assert len(started) == 2
    # A sentinel is ready once its process has ended (whichever thread
    # reaps it: the pool's own manager thread may).
    ended = set()
    while len(ended) < 2 and time.time() < deadline + 30:
        ended.update(connection.wait([c.sentinel for c in started], 1))
    assert len(ended) == 2
