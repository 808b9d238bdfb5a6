"""How work runs on this machine: forked workers, torchrun, memory."""
