"""bench/bench_deploy.py's arithmetic: post-processing shares, slim speed-ups, int8 AP gaps and the verdict lines
of issue 27's "Done when", on made-up timings (the bench itself is too slow for a test)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bench'))
import bench_deploy  # noqa: E402


def row(**ms):
    return dict((name.replace('_', ' '), {'ms': value, 'bytes': 1}) for name, value in ms.items())


def result(ov_dense=600., ov_slim=200., slim_e2e=32., int8_easy=0.90, ap_images=300):
    network = {'random dense': row(TF_fp32=2000., OpenVINO_int8=ov_dense),
               'random slim': row(TF_fp32=600., OpenVINO_int8=ov_slim),
               'trained dense': row(TF_fp32=46., OpenVINO_int8=20.),
               'trained slim': row(TF_fp32=30., OpenVINO_int8=10.)}
    end_to_end = {'trained dense': row(TF_fp32=50., OpenVINO_int8=21.),
                  'trained slim': row(TF_fp32=slim_e2e, OpenVINO_int8=11.)}
    aps = {'trained dense': {'OpenVINO fp32': {'easy': 0.9, 'medium': 0.8, 'hard': 0.5},
                             'OpenVINO int8': {'easy': int8_easy, 'medium': 0.795, 'hard': 0.5}}}
    return {'settings': {'slim': 'all:0.5'}, 'network': network, 'network_baseline_ms': 2000.,
            'slim_mac_fraction': 0.253, 'ap_images': ap_images,
            'post_processing': bench_deploy.post_processing(end_to_end, network),
            'slim_speedup_end_to_end': bench_deploy.slim_speedups(end_to_end), 'ap_gaps': bench_deploy.ap_gaps(aps)}


def test_ratios():
    """Post-processing is 1 - network / end to end; slim speed-up dense / slim; AP gap int8 - fp32."""
    out = result()
    assert out['post_processing']['trained dense']['TF fp32'] == pytest.approx(0.08)
    assert out['post_processing']['trained slim']['OpenVINO int8'] == pytest.approx(1 / 11.)
    assert out['slim_speedup_end_to_end'] == {'TF fp32': pytest.approx(50 / 32.),
                                              'OpenVINO int8': pytest.approx(21 / 11.)}
    assert out['ap_gaps']['trained dense']['OpenVINO int8'] == {'easy': pytest.approx(0.), 'medium':
                                                                pytest.approx(-0.005), 'hard': pytest.approx(0.)}


def test_verdicts_met_and_not_met():
    """Each "Done when" line says met or NOT met against its goal, with the number and the worst case."""
    lines = bench_deploy.verdicts(result())
    assert [line.split(': ')[1].split(' (')[0] for line in lines] == ['met'] * 5
    assert '(3.33x, goal >= 3x)' in lines[0] and '(10.00x, goal >= 9x)' in lines[1] and '25.3% MACs' in lines[1]
    lines = bench_deploy.verdicts(result(ov_dense=700., ov_slim=250., slim_e2e=60., int8_easy=0.885,
                                         ap_images=95))
    assert [line.split(': ')[1].split(' (')[0] for line in lines] == ['NOT met'] * 5
    assert 'worst 50.0%: trained slim TF fp32' in lines[2]
    assert 'TF fp32 0.83x' in lines[3]
    assert 'worst -0.0150: trained dense OpenVINO int8 easy' in lines[4]
