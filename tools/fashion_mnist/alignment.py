"""The alignment metrics of the kit's distilled runs: a table of the last
epoch and curves over epochs (see ``ConfigurableDistiller``'s
``alignment_metrics``; each run's ``result.json`` holds them per epoch)."""
from .arms import ARMS
from .plots import epoch_axis, pyplot, save


def alignment_runs(results):
    """``{arm: [run, ...]}`` of the runs that recorded metrics, and the
    names of the distilled arms whose runs did not (they ran before the
    metrics existed)."""
    recorded, missing = {}, []
    for arm, runs in results.items():
        with_metrics = [run for run in runs if run.get('alignment')]
        if with_metrics:
            recorded[arm] = with_metrics
        elif arm in ARMS and ARMS[arm].teacher is not None:
            missing.append(arm)
    return recorded, missing


def mean_curve(runs, metric):
    """``(epochs, mean over the runs that have the metric)``."""
    curves = [
        run['alignment'][metric] for run in runs if metric in run['alignment']
    ]
    epochs = [epoch for epoch, _ in curves[0]]
    return epochs, [
        sum(curve[i][1] for curve in curves) / len(curves)
        for i in range(len(epochs))
    ]


def metrics_of(recorded):
    """The metric names, in first-seen order."""
    names = {}
    for runs in recorded.values():
        for run in runs:
            names.update(dict.fromkeys(run['alignment']))
    return list(names)


def alignment_markdown(results):
    """The report's section on the alignment metrics (markdown lines)."""
    recorded, missing = alignment_runs(results)
    lines = ['## Alignment metrics', '']
    if recorded:
        metrics = metrics_of(recorded)
        lines += [
            'Logged every 20 iterations next to the losses (`distill.<name>`'
            ', never summed into the loss), averaged per epoch and over '
            'seeds; the last epoch here, all epochs in the `_alignment.png` '
            'plot. cos: mean cosine of the student tokens after the '
            'connector and the teacher tokens (the generation on its masked '
            'and visible tokens); agree_top1: teacher-student top-1 '
            'agreement on the training batch.', '',
            '| arm | ' + ' | '.join(metrics) + ' |',
            '|---' * (len(metrics) + 1) + '|'
        ]
        for arm, runs in recorded.items():
            cells = [
                f'{mean_curve(runs, m)[1][-1]:.3f}' if any(
                    m in run['alignment'] for run in runs) else ''
                for m in metrics
            ]
            lines.append(f'| {arm} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    if missing:
        lines += [
            'Not recorded for ' + ', '.join(missing) + ': these runs ran '
            'before the kit logged the metrics.', ''
        ]
    return lines


def write_alignment_plot(prefix, results):
    """One panel per metric, one line per arm; ``[]`` if no run has
    metrics (or without matplotlib)."""
    recorded, _ = alignment_runs(results)
    if not recorded:
        return []
    plt = pyplot()
    if plt is None:
        return []
    metrics = metrics_of(recorded)
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for arm, runs in recorded.items():
            if any(metric in run['alignment'] for run in runs):
                ax.plot(*mean_curve(runs, metric), marker='.', label=arm)
        ax.set_title(metric, fontsize=9)
        epoch_axis(ax, fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis('off')
    fig.suptitle('Alignment metrics over epochs (training batches)')
    return [save(fig, prefix + '_alignment.png')]
