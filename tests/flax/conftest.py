"""The Flax modules' tests need Flax (the `jlstm[flax]` extra): without it none is collected."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("flax") else ["test_*.py"]
