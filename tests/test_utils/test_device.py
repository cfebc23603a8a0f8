"""cpu_bf16_flags: the CPU's native bf16 flags, read from /proc/cpuinfo."""
from vitkd_mm.utils import cpu_bf16_flags


def test_cpu_bf16_flags_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 '
                       'amx_tile amx_bf16\n\nprocessor\t: 1\n')
    assert cpu_bf16_flags(str(cpuinfo)) == ('amx_bf16', 'avx512_bf16')
    cpuinfo.write_text('flags\t\t: fpu avx2 avx512f\n')
    assert cpu_bf16_flags(str(cpuinfo)) == ()
    assert cpu_bf16_flags(str(tmp_path / 'missing')) == ()
