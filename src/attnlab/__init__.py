"""attnlab: where does information get lost in a sequence model, and how does attention stop it?"""

import os

# Idle OpenMP threads sleep instead of spinning (read when torch loads, so set before it is
# imported). With spinning, torch's 2 intra-op threads ran 10-20x slower whenever other
# processes kept the cores busy (benchmarks/README.md); set the variable yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
