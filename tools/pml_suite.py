#!/usr/bin/env python3
"""PML's own RankedListLoss tests against ours (make test-pml-suite PML=<a pytorch-metric-learning checkout>).

Runs the checkout's ``tests/losses/test_ranked_list_loss.py`` with pytest, in the checkout, with one change: its
``from pytorch_metric_learning.losses import RankedListLoss`` gets ``ranked_list_loss.pml.RankedListLoss``. That is
done by a pytest plugin (below) that sets the attribute before the test module is imported; no file of the
checkout is copied or modified. ``--peer`` runs the file unchanged, on PML's own class (the baseline: PML passes
it). TEST_DEVICE defaults to cpu here (PML's default is cuda) and TEST_DTYPES to PML's
float16,float32,float64. Prints pytest's report and exits with its status."""

from __future__ import annotations

import argparse
import os
import sys

TEST_FILE = os.path.join("tests", "losses", "test_ranked_list_loss.py")


class SwapPlugin:
    """Puts ours where the test imports PML's class from, before the test module is collected."""

    def pytest_configure(self, config) -> None:
        import pytorch_metric_learning.losses as pml_losses
        import ranked_list_loss.pml

        pml_losses.RankedListLoss = ranked_list_loss.pml.RankedListLoss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pml", help="a checkout of pytorch-metric-learning (its tests/ and src/)")
    ap.add_argument("--peer", action="store_true", help="PML's own RankedListLoss, as the file has it")
    args = ap.parse_args()
    checkout = os.path.abspath(args.pml)
    if not os.path.isfile(os.path.join(checkout, TEST_FILE)):
        print(f"pml_suite: {checkout} has no {TEST_FILE}: not a pytorch-metric-learning checkout", file=sys.stderr)
        return 2
    os.environ.setdefault("TEST_DEVICE", "cpu")
    os.environ.setdefault("TEST_DTYPES", "float16,float32,float64")
    os.chdir(checkout)  # PML's tests/__init__.py puts "src" on sys.path, relative to the checkout
    sys.path.insert(0, checkout)
    import pytest

    whose = "PML's own" if args.peer else "ranked_list_loss.pml.RankedListLoss"
    print(f"pml_suite: {TEST_FILE} of {checkout} with RankedListLoss = {whose}, "
          f"TEST_DEVICE={os.environ['TEST_DEVICE']}, TEST_DTYPES={os.environ['TEST_DTYPES']}", flush=True)
    plugins = [] if args.peer else [SwapPlugin()]
    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-rA", TEST_FILE], plugins=plugins))


if __name__ == "__main__":
    sys.exit(main())
