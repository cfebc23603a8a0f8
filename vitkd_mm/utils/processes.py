"""A pool that runs each task in a fresh process of its own."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def fresh_process_pool(max_workers: int = 1) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context process pool with one task per process.

    Each task starts from a new interpreter: it reads the environment
    (``OMP_NUM_THREADS``, ...) as it is when its process starts, shares no
    torch threads, CUDA state or memory with the caller or with the task
    before it, and returns its result as data. If the block raises (a
    failed task, Ctrl-C, ``SystemExit`` from a SIGTERM handler), the pending
    tasks are cancelled and the processes of the pool terminated; their
    dataloader workers notice their parent is gone and exit.

    Args:
        max_workers (int): How many tasks run at the same time.

    Yields:
        ProcessPoolExecutor: The pool.

    Examples:
        >>> with fresh_process_pool(2) as pool:
        ...     pool.submit(abs, -3).result()
        3
    """
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context('spawn'),
        max_tasks_per_child=1)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            if child not in others:
                child.terminate()
        raise
    pool.shutdown()
