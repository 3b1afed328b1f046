"""The charm's unit tests run with the charm root as the working directory (see
scripts/run_charm_tests.py), so ops.testing finds charmcraft.yaml there."""
