"""The kit's plots: accuracy per arm, validation accuracy over epochs, and
the matplotlib set-up the report's plots share."""
from .arms import MAIN_ARMS


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib not installed: no plots')
        return None
    return plt


def epoch_axis(ax, fontsize):
    """Whole epochs on the x axis, a light grid and the legend."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('epoch')
    ax.grid(alpha=.3)
    ax.legend(fontsize=fontsize)


def save(fig, path):
    """Lay ``fig`` out, write it to ``path`` at 120 dpi and close it."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(prefix, summary, results, teacher):
    """Bar chart of the final accuracy per arm and validation curves.

    Returns:
        list[str]: The PNGs written (none without matplotlib).
    """
    plt = pyplot()
    if plt is None:
        return []
    arms = list(summary)
    fig, ax = plt.subplots(figsize=(1.1 * len(arms) + 2, 4))
    means = [summary[a]['mean'] for a in arms]
    stds = [summary[a]['std'] for a in arms]
    ax.bar(range(len(arms)), means, yerr=stds, capsize=4, color='#8fb3d9')
    for i, arm in enumerate(arms):
        ax.scatter(
            [i] * summary[arm]['n'],
            summary[arm]['top1'],
            s=12,
            color='k',
            zorder=3)
    high = max(means)
    if teacher is not None and teacher['top1'] is not None:
        ax.axhline(teacher['top1'], color='r', ls='--', label='teacher')
        ax.legend(loc='lower right')
        high = max(high, teacher['top1'])
    low = min(min(s['top1']) for s in summary.values())
    ax.set_ylim(low - 2, high + 1)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms, rotation=30, ha='right')
    ax.set_ylabel('test top-1 (%)')
    ax.set_title('Student accuracy per arm (bars: mean ± std, dots: seeds)')
    bars = save(fig, prefix + '_accuracy.png')

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in arms:
        curves = [run['curve'] for run in results[arm]]
        epochs = [e for e, _ in curves[0]]
        mean = [
            sum(c[i][1] for c in curves) / len(curves)
            for i in range(len(epochs))
        ]
        main = arm in MAIN_ARMS
        ax.plot(
            epochs,
            mean,
            marker='.',
            lw=2 if main else 1,
            ls='-' if main else ':',
            label=arm)
    epoch_axis(ax, fontsize=8)
    ax.set_ylabel('test top-1 (%), mean over seeds')
    ax.set_title('Validation accuracy over epochs')
    return [bars, save(fig, prefix + '_curves.png')]
