"""One arm of the step benchmark, timed and measured in this process."""
import time

import torch
from benchmark_arms import (augment_names, build_arm, build_optim_wrapper,
                            load_config, make_batch)


def _proc_status_mib(key: str) -> float:
    """A ``/proc/self/status`` memory entry (``VmHWM``, ``VmRSS``) in MiB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float('nan')


def reset_peak_rss() -> None:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0).

    Where that is refused, VmHWM stays the peak since the process started.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def measure_arm(arm: str, options: dict) -> dict:
    """Run ``arm`` in this process and return its figures.

    Meant to run in a fresh process per arm (the benchmark's process pool
    has one task per child), so the peak memory is the arm's own.

    ``peak_mib`` is the peak over the steps (CUDA: allocated memory; CPU:
    process RSS), ``step_mib`` that peak minus the memory held before the
    first step (the weights, and on CPU the libraries too).

    Args:
        arm (str): A key of :data:`benchmark_arms.ARMS`.
        options (dict): ``pair``, ``device``, ``amp``, ``threads``,
            ``batch_size``, ``warmup``, ``steps`` (the benchmark's
            arguments).
    """
    from mmengine.registry import init_default_scope

    import vitkd_mm  # noqa: F401
    if options['threads']:
        torch.set_num_threads(options['threads'])
    torch.manual_seed(0)
    cfg = load_config(options['pair'], arm)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    device = torch.device(options['device'])
    model = build_arm(cfg, arm).to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(cfg, model, options['amp'])

    student = cfg.model.architecture
    size = student.backbone.img_size
    num_classes = student.head.num_classes
    generator = torch.Generator().manual_seed(0)
    images = [
        torch.randint(
            0, 256, (3, size, size), dtype=torch.uint8, generator=generator)
        for _ in range(options['batch_size'])
    ]
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device) / 2**20
    else:
        reset_peak_rss()
        base = _proc_status_mib('VmRSS')
    times, cpu_times = [], []
    for step in range(options['warmup'] + options['steps']):
        data = make_batch(images, num_classes)
        if cuda:
            torch.cuda.synchronize(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train_step(data, optim_wrapper)
        if cuda:
            torch.cuda.synchronize(device)
        if step >= options['warmup']:
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu_start) * 1000)
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = _proc_status_mib('VmHWM')
    return dict(
        arm=arm,
        times_ms=times,
        cpu_times_ms=cpu_times,
        peak_mib=peak,
        step_mib=peak - base,
        augments=augment_names(model))
