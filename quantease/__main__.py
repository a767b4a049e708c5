"""`python -m quantease ...`: the `quantease` command (what launchers such as `torchrun -m quantease` run)."""
from quantease.cli import main

if __name__ == '__main__': main()
