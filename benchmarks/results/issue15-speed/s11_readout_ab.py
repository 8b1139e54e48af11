"""benchmarks/models.py with the fixed-context real-position readout on or off, same code.

python benchmarks/results/issue15-speed/s11_readout_ab.py on|off --only elman-fixed lstm-fixed
"""

import sys
from pathlib import Path

from attnlab.models import build
from attnlab.models.seq2seq import FixedDecoder

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if sys.argv[1] == "off":
    build.KERNELS["fast"] = build.KERNELS["fast"]._replace(fixed_decoder=FixedDecoder)
import models as bench  # benchmarks/models.py, imported after the switch

sys.exit(bench.main(sys.argv[2:]))
