"""`meridian controller run|manifests|rehearse` with bad flags: a message that names the flag,
exit status 2, no traceback, nothing started and nothing written."""
from __future__ import annotations

import os
import signal
import socket

import pytest

from meridian.cli import main

API = ["--api-server", "http://127.0.0.1:1", "--metrics-port", "0", "--max-syncs", "1"]


@pytest.mark.parametrize("argv, flag", [
    (["--sync-interval", "nan"], "--sync-interval"),
    (["--sync-interval", "0"], "--sync-interval"),
    (["--lease-duration", "inf"], "--lease-duration"),
    (["--renew-deadline", "20"], "renew deadline"),
    (["--time-scale", "inf"], "--time-scale"),
    (["--knob", "3"], "--knob"),  # the meridian law has no knob: silently ignoring it would mislead
    (["--policy", "hpa"], "--knob"),
    (["--policy", "hpa", "--knob", "nan"], "--knob"),
    (["--policy", "hpa", "--knob", "-1"], "--knob"),
    (["--policy", "oracle", "--knob", "0"], "--knob"),
    (["--policy", "nope"], "--policy"),
    (["--namespace", "Inference_Prod"], "--namespace"),
    (["--namespace", ""], "--namespace"),
    (["--leader-elect-name", "Leader"], "--leader-elect-name"),
    (["--leader-elect-namespace", "a b"], "--leader-elect-namespace"),
    (["--identity", " "], "--identity"),
    (["--metrics-port", "70000"], "--metrics-port"),
    (["--price-refresh", "60"], "--price-refresh"),
    (["--price-region", "mars-1"], "--price-region"),
    (["--prometheus-url", "prometheus:9090"], "--prometheus-url"),
    (["--max-syncs", "0"], "--max-syncs"),
    (["--kubeconfig", "/nonexistent"], "--kubeconfig"),  # with --api-server: one would be ignored
    (["--context", "prod"], "--context"),
])
def test_run_rejects_bad_flags(capsys, argv, flag):
    assert main(["controller", "run", *API, *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


def test_run_with_its_metrics_port_taken_exits_2(capsys):
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["controller", "run", "--api-server", "http://127.0.0.1:1", "--max-syncs", "1",
                     "--metrics-host", "127.0.0.1", "--metrics-port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "--metrics-port" in err and str(port) in err and "Traceback" not in err
    # the run's SIGTERM/SIGINT handlers are gone with it (they would stop whatever runs next)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers


@pytest.mark.parametrize("argv, flag", [
    (["--namespace", "Bad"], "--namespace"),
    (["--image", " "], "--image"),
    (["--price-refresh", "nan", "--price-region", "eu-west-1"], "--price-refresh"),
    (["--sa-annotation", "no-equals-sign"], "--sa-annotation"),
    (["--price-region", "mars-1"], "--price-region"),  # `controller run` would refuse it in the cluster
])
def test_manifests_rejects_bad_flags_and_writes_nothing(capsys, tmp_path, argv, flag):
    out = tmp_path / "m.yaml"
    assert main(["controller", "manifests", *argv, "-o", str(out)]) == 2
    assert flag in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no partial or temp file


@pytest.mark.parametrize("argv, flag", [
    (["--minutes", "inf"], "--minutes"),
    (["--speed", "nan"], "--speed"),
    (["--min-replicas", "5", "--max-replicas", "2"], "--min-replicas"),
    (["--spot-share", "0"], "--spot-share"),
    (["--spot-share", "1.5"], "--spot-share"),
    (["--spot-share", "nan"], "--spot-share"),
    (["--reclaim-at", "3"], "--reclaim-at"),  # no spot to reclaim
    (["--spot-share", "0.5", "--reclaim-at", "9"], "--reclaim-at"),  # the notice would outlast the run
    (["--spot-share", "0.5", "--reclaim-at", "-1"], "--reclaim-at"),
    (["--spot-share", "0.5", "--reclaim-at", "2", "--reclaim-share", "0"], "--reclaim-share"),
    (["--reclaim-share", "0.3"], "--reclaim-share"),
    (["--rollout-at", "3"], "--rollout-at"),  # names no new model
    (["--rollout-batch-slots", "16"], "--rollout-batch-slots"),  # no rollout to describe
    (["--rollout-at", "10", "--rollout-batch-slots", "16"], "--rollout-at"),  # at the end of the 10 minutes
    (["--rollout-at", "0", "--rollout-batch-slots", "16"], "--rollout-at"),  # no old model to relearn from
    (["--rollout-at", "3", "--rollout-batch-slots", "0"], "--rollout-batch-slots"),
    (["--rollout-at", "3", "--rollout-decode-factor", "0"], "--rollout-decode-factor"),
    (["--rollout-at", "3", "--rollout-decode-factor", "nan"], "--rollout-decode-factor"),
    (["--rollout-at", "3", "--rollout-batch-slots", "32"], "--rollout-batch-slots"),  # the model it has
    (["--initial-replicas", "-3"], "--initial-replicas"),
    (["--initial-replicas", "41"], "--initial-replicas"),  # above --max-replicas 40
    (["--policy", "hpa", "--knob", "-1"], "--knob"),
])
def test_rehearse_rejects_bad_flags(capsys, argv, flag):
    assert main(["controller", "rehearse", *argv]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


@pytest.mark.parametrize("output, words", [
    ("{tmp}", "is a directory"),
    ("", "the file name is empty"),  # not stdout: -o was given
    ("/sys/m.yaml", "not writable"),  # sysfs refuses new files, even to root
])
def test_manifests_output_that_cannot_be_written_exits_2(capsys, tmp_path, output, words):
    if output.startswith("/sys") and not os.path.isdir("/sys/kernel"):
        pytest.skip("needs Linux sysfs as an unwritable directory")
    assert main(["controller", "manifests", "-o", output.format(tmp=tmp_path)]) == 2
    captured = capsys.readouterr()
    assert words in captured.err and "--output" in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and list(tmp_path.iterdir()) == []


def test_run_with_an_unreadable_kubeconfig_exits_2(capsys, tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("just a string\n")
    assert main(["controller", "run", "--kubeconfig", str(bad), "--metrics-port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--kubeconfig" in err and str(bad) in err and "Traceback" not in err
