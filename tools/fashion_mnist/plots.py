"""The kit's plots: accuracy per arm, validation accuracy over epochs."""
from fashion_mnist.arms import MAIN_ARMS


def write_plots(prefix, summary, results, teacher):
    """Bar chart of the final accuracy per arm and validation curves.

    Returns:
        list[str]: The PNGs written (none without matplotlib).
    """
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print('matplotlib not installed: no plots')
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
    fig.tight_layout()
    bars = prefix + '_accuracy.png'
    fig.savefig(bars, dpi=120)
    plt.close(fig)

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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('epoch')
    ax.set_ylabel('test top-1 (%), mean over seeds')
    ax.set_title('Validation accuracy over epochs')
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    curves_png = prefix + '_curves.png'
    fig.savefig(curves_png, dpi=120)
    plt.close(fig)
    return [bars, curves_png]
