"""Distributed training: the launch scripts, DDP against one process,
resume on another world size, and two nodes in network namespaces."""
import os
import os.path as osp
import runpy
import shutil
import signal
import subprocess
import sys

import pytest
import torch
import train
from mmengine.config import Config
from mmengine.model.utils import convert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from tests.dist_utils import (DDP_CONFIG, equivalence_cfg,
                              make_teacher_checkpoint, train_steps)
from tests.utils import (PYTHON, REPO_ROOT, data_options, fake_batch,
                         free_port, make_image_folder, read_run, run)
from vitkd_mm.registry import MODELS
from vitkd_mm.utils import safe_torch_load

#: Optimizer steps and per-process batch of the DDP equivalence run.
STEPS, BATCH = 3, 2


def trainable(state_dict):
    return {
        k: v
        for k, v in state_dict.items() if not k.startswith('teacher.')
    }


def teacher_part(state_dict):
    return {
        k[len('teacher.'):]: v
        for k, v in state_dict.items() if k.startswith('teacher.')
    }


def assert_equal_states(actual, expected):
    assert actual.keys() == expected.keys()
    unequal = [k for k in expected if not torch.equal(actual[k], expected[k])]
    assert not unequal, unequal


def build_ddp_model(teacher_ckpt):
    cfg = Config.fromfile(DDP_CONFIG)
    cfg.model.teacher_ckpt = teacher_ckpt
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('teacher') / 'teacher.pth')
    return path, make_teacher_checkpoint(path)


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory, teacher_ckpt):
    """The worker's results of both ranks (see tests/dist_worker.py)."""
    out_dir = str(tmp_path_factory.mktemp('ddp'))
    run([
        PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port',
        free_port(), 'tests/dist_worker.py', out_dir, teacher_ckpt[0],
        str(STEPS),
        str(BATCH)
    ],
        timeout=300)
    return [
        safe_torch_load(osp.join(out_dir, f'rank{rank}.pth'))
        for rank in (0, 1)
    ]


def test_ddp_steps_equal_one_process_steps(ddp_run, teacher_ckpt, tmp_path):
    """2 processes x batch B and 1 process x batch 2B, same samples and
    masks: the same student and connector weights after every step."""
    runner = Runner.from_cfg(equivalence_cfg(str(tmp_path), teacher_ckpt[0]))
    # rank 0's initial student and distiller; the teacher is the checkpoint
    missing, unexpected = runner.model.load_state_dict(
        ddp_run[0]['states'][0], strict=False)
    assert not unexpected and all(k.startswith('teacher.') for k in missing)
    states = train_steps(runner, STEPS, 2 * BATCH)
    rank0, rank1 = ddp_run[0]['states'], ddp_run[1]['states']
    assert len(states) == len(rank0) == STEPS + 1
    changed = [
        k for k in states[0] if not torch.equal(states[0][k], states[-1][k])
    ]
    assert changed == list(states[0])  # every trainable tensor moved
    for step, (one, r0, r1) in enumerate(zip(states, rank0, rank1)):
        assert_equal_states(r1, r0)  # DDP: identical on every rank
        for key in one:
            torch.testing.assert_close(
                r0[key], one[key], rtol=1e-5, atol=1e-6, msg=f'{key}@{step}')


def test_ddp_buckets_hold_no_teacher_parameter(ddp_run, teacher_ckpt):
    """DDP reduces exactly the student's and the distiller's parameters."""
    params = dict(build_ddp_model(teacher_ckpt[0]).named_parameters())
    teacher = [p for name, p in params.items() if name.startswith('teacher.')]
    trained = [
        p for name, p in params.items() if not name.startswith('teacher.')
    ]
    assert teacher and not any(p.requires_grad for p in teacher)
    assert all(p.requires_grad for p in trained)
    for result in ddp_run:
        assert result['reduced_tensors'] == len(trained)
        assert result['reduced_bytes'] == sum(p.numel() * p.element_size()
                                              for p in trained)


def test_no_broadcast_into_the_teacher_per_step(ddp_run):
    """Rank 1 raised its teacher's BatchNorm counter after DDP was built;
    a per-step buffer broadcast from rank 0 would have reset it."""
    assert ddp_run[0]['counts'] == [7] * STEPS
    assert ddp_run[1]['counts'] == [8] * STEPS


def test_ddp_keeps_the_frozen_teacher_bit_identical(ddp_run, teacher_ckpt):
    for result in ddp_run:
        assert_equal_states(result['teacher'], teacher_ckpt[1])


def test_teacher_stays_in_eval_after_sync_bn_conversion(teacher_ckpt):
    """mmengine's sync_bn conversion (Runner.wrap_model, before DDP) makes
    new BatchNorm layers in train mode; the step must still run the frozen
    teacher in eval mode. (DDP refuses SyncBatchNorm on CPU, so this is
    the part a CPU host can check.)"""
    model = convert_sync_batchnorm(build_ddp_model(teacher_ckpt[0]).train())
    data = model.data_preprocessor(fake_batch(4), training=True)
    model(**data, mode='loss')
    assert_equal_states(teacher_part(model.state_dict()), teacher_ckpt[1])


def script_options(teacher_ckpt, data_root, *options):
    return [
        '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
        *data_options(data_root), *options
    ]


def rank_state(work_dir, stage, rank=0):
    return safe_torch_load(osp.join(work_dir, f'rank{rank}_{stage}.pth'))


def assert_same_optimizer_state(actual, expected):
    assert actual['param_groups'] == expected['param_groups']
    assert actual['state'].keys() == expected['state'].keys()
    for index, state in expected['state'].items():
        assert_equal_states(actual['state'][index], state)


@pytest.fixture(scope='module')
def resumed_runs(tmp_path_factory, teacher_ckpt):
    """Epoch 1 on 2 processes (tools/dist_train.sh), epoch 2 resumed on 1
    (tools/train.py), epoch 3 resumed on 2 again; each run's work dir and
    the checkpoint it resumed (None for the first)."""
    root = tmp_path_factory.mktemp('resume')
    data_root = make_image_folder(str(root / 'data'))
    runs, previous = [], None
    for epoch, processes in enumerate((2, 1, 2), start=1):
        work_dir = str(root / f'epoch{epoch}_{processes}proc')
        args = [
            '--work-dir', work_dir,
            *(['--resume', previous] if previous else []), *script_options(
                teacher_ckpt[0], data_root, f'train_cfg.max_epochs={epoch}')
        ]
        if processes == 1:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sys, 'argv', ['train.py', DDP_CONFIG, *args])
                train.main()
        else:
            run(['bash', 'tools/dist_train.sh', DDP_CONFIG, '2', *args],
                env=dict(PORT=free_port(), PYTHON=PYTHON),
                timeout=300)
        runs.append((work_dir, previous))
        previous = osp.join(work_dir, f'epoch_{epoch}.pth')
    return dict(runs=runs, data_root=data_root, last=previous)


def test_resume_on_another_world_size(resumed_runs):
    """Each resumed run starts from its checkpoint's weights, optimizer
    state and iteration; 12 images take 2 iterations per epoch on 2
    processes of batch 4, 3 on 1."""
    first_iters = []
    for work_dir, resumed in resumed_runs['runs']:
        start = rank_state(work_dir, 'before_train')
        first_iters.append(start['iter'])
        if resumed:
            checkpoint = safe_torch_load(resumed)
            assert start['iter'] == checkpoint['meta']['iter']
            assert_equal_states(start['state_dict'], checkpoint['state_dict'])
            assert_same_optimizer_state(start['optimizer'],
                                        checkpoint['optimizer'])
    assert first_iters == [0, 2, 5]
    end = rank_state(resumed_runs['runs'][-1][0], 'after_train')
    assert end['iter'] == 7 and end['world_size'] == 2


def test_test_script_scores_the_checkpoint(resumed_runs, tmp_path,
                                           monkeypatch):
    monkeypatch.setattr(sys, 'argv', [
        'test.py', DDP_CONFIG, resumed_runs['last'], '--work-dir',
        str(tmp_path), '--cfg-options',
        *data_options(resumed_runs['data_root'])
    ])
    runpy.run_path(
        osp.join(REPO_ROOT, 'tools', 'test.py'), run_name='__main__')
    _, records = read_run(str(tmp_path))
    assert 0 <= records[-1]['accuracy/top1'] <= 100


def fake_command(folder, name):
    """An executable ``folder/name`` that writes its arguments, one a line,
    to ``folder/name.args`` and $PYTHONPATH to ``folder/name.path``."""
    path = osp.join(folder, name)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\n'
                'echo "$PYTHONPATH" > "$0.path"\n')
    os.chmod(path, 0o755)
    return path


@pytest.mark.parametrize(
    'script, args, env, expected',
    [('dist_train.sh', ['C.py', '4', '--resume'],
      dict(NNODES='2', NODE_RANK='1', MASTER_ADDR='10.0.0.1',
           PORT='2950'), '-m torch.distributed.run --nnodes=2 --node_rank=1 '
      '--master_addr=10.0.0.1 --master_port=2950 --nproc_per_node=4 '
      'TOOLS/train.py C.py --launcher pytorch --resume'),
     ('dist_test.sh', ['C.py', 'E.pth', '2', '--work-dir', 'W'], {},
      '-m torch.distributed.run --nnodes=1 --node_rank=0 '
      '--master_addr=127.0.0.1 --master_port=29500 --nproc_per_node=2 '
      'TOOLS/test.py C.py E.pth --launcher pytorch --work-dir W'),
     ('slurm_train.sh', ['P', 'J', 'C.py', 'W', '--cfg-options', 'a=1'],
      dict(GPUS='16', CPUS_PER_TASK='4', SRUN_ARGS='--time=1 --qos=low'),
      '-p P --job-name=J --gres=gpu:8 --ntasks=16 --ntasks-per-node=8 '
      '--cpus-per-task=4 --kill-on-bad-exit=1 --time=1 --qos=low PYTHON -u '
      'TOOLS/train.py C.py --work-dir=W --launcher=slurm --cfg-options a=1'),
     ('slurm_test.sh', ['P', 'J', 'C.py', 'E.pth'], dict(GPUS_PER_NODE='2'),
      '-p P --job-name=J --gres=gpu:2 --ntasks=8 --ntasks-per-node=2 '
      '--cpus-per-task=5 --kill-on-bad-exit=1 PYTHON -u TOOLS/test.py C.py '
      'E.pth --launcher=slurm')])
def test_launch_script_arguments(tmp_path, script, args, env, expected):
    """OpenMMLab's arguments and variables reach torchrun or srun, the
    script's own arguments are consumed and the rest pass through."""
    python = fake_command(str(tmp_path), 'python')
    launcher = python
    if script.startswith('slurm'):
        launcher = fake_command(str(tmp_path), 'srun')
    path = f'{tmp_path}:{os.environ["PATH"]}'
    run(['bash', f'tools/{script}', *args],
        env=dict(env, PYTHON=python, PATH=path))
    with open(f'{launcher}.args') as f:
        argv = f.read().split()
    assert argv == expected.replace('TOOLS',
                                    'tools').replace('PYTHON', python).split()
    with open(f'{launcher}.path') as f:
        assert f.read().startswith(f'tools/..:{REPO_ROOT}')


#: Seconds each node of the two-node run may take.
NODE_TIMEOUT = 240


def namespace_skip_reason():
    if shutil.which('ip') is None:
        return "no 'ip' command (Debian's iproute2; tools/install.sh --tests)"
    if os.geteuid() != 0:
        return 'network namespaces need root'
    return None


@pytest.fixture
def two_nodes():
    """Two network namespaces joined by a veth pair, 10.22.0.1 and
    10.22.0.2 (nothing else reaches them); yields ``[(namespace,
    interface, address)]`` and deletes both afterwards."""
    reason = namespace_skip_reason()
    if reason:
        pytest.skip(reason)
    tag = f'vkd{os.getpid()}'  # interface names: 15 characters at most
    nodes = [(f'{tag}n{i}', f'{tag}v{i}', f'10.22.0.{i + 1}') for i in (0, 1)]
    made = []

    def ip(*args):
        subprocess.run(['ip', *args],
                       check=True,
                       capture_output=True,
                       text=True,
                       timeout=30)

    try:
        for namespace, _, _ in nodes:
            ip('netns', 'add', namespace)
            made.append(namespace)
            ip('-n', namespace, 'link', 'set', 'lo', 'up')
        (ns0, if0, _), (ns1, if1, _) = nodes
        ip('link', 'add', if0, 'netns', ns0, 'type', 'veth', 'peer', 'name',
           if1, 'netns', ns1)
        for namespace, interface, address in nodes:
            ip('-n', namespace, 'addr', 'add', f'{address}/24', 'dev',
               interface)
            ip('-n', namespace, 'link', 'set', interface, 'up')
    except subprocess.CalledProcessError as error:
        for namespace in made:
            subprocess.run(['ip', 'netns', 'del', namespace])
        pytest.skip(f'cannot make network namespaces: {error.stderr}')
    try:
        yield nodes
    finally:
        for namespace in made:  # takes the veth pair with it
            subprocess.run(['ip', 'netns', 'del', namespace])


def start_node(node_rank, node, master_addr, work_dir, options):
    """``tools/dist_train.sh`` with one process, inside ``node``'s
    namespace, gloo bound to its veth interface."""
    namespace, interface, _ = node
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=REPO_ROOT,
        PYTHON=PYTHON,
        NNODES='2',
        NODE_RANK=str(node_rank),
        MASTER_ADDR=master_addr,
        GLOO_SOCKET_IFNAME=interface)
    log = open(osp.join(osp.dirname(work_dir), f'node{node_rank}.log'), 'w')
    process = subprocess.Popen([
        'ip', 'netns', 'exec', namespace, 'bash', 'tools/dist_train.sh',
        DDP_CONFIG, '1', '--work-dir', work_dir, *options
    ],
                               cwd=REPO_ROOT,
                               env=env,
                               stdout=log,
                               stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process, log


def stop(process, grace=15):
    """End a node still running: SIGTERM (torchrun stops its workers),
    SIGKILL to its process group after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def read_tail(path, chars=3000):
    with open(path) as f:
        return f.read()[-chars:]


def test_two_nodes_train_one_model(two_nodes, tmp_path, teacher_ckpt):
    """One tools/dist_train.sh per node (NNODES=2, NODE_RANK=0/1,
    MASTER_ADDR = node 0's veth address, gloo): both ranks end with the
    same student and connectors, the teacher is its checkpoint's."""
    data_root = make_image_folder(str(tmp_path / 'data'))
    options = script_options(teacher_ckpt[0], data_root)
    master_addr = two_nodes[0][2]
    work_dirs = [str(tmp_path / f'node{rank}') for rank in (0, 1)]
    nodes = [
        start_node(rank, node, master_addr, work_dir, options)
        for rank, (node, work_dir) in enumerate(zip(two_nodes, work_dirs))
    ]
    try:
        codes = [process.wait(NODE_TIMEOUT) for process, _ in nodes]
    finally:
        for process, log in nodes:
            stop(process)
            log.close()
    assert codes == [0, 0], [read_tail(log.name) for _, log in nodes]
    ends = [
        rank_state(work_dir, 'after_train', rank)
        for rank, work_dir in enumerate(work_dirs)
    ]
    start = rank_state(work_dirs[0], 'before_train')
    # 12 images on 2 ranks of batch 4: 2 iterations
    assert [end['iter'] for end in ends] == [2, 2]
    assert [end['world_size'] for end in ends] == [2, 2]
    assert_equal_states(
        trainable(ends[1]['state_dict']), trainable(ends[0]['state_dict']))
    moved = trainable(start['state_dict'])
    assert not any(
        torch.equal(value, ends[0]['state_dict'][key])
        for key, value in moved.items() if key.endswith('weight'))
    for end in ends:
        assert_equal_states(teacher_part(end['state_dict']), teacher_ckpt[1])
