"""Configuration: PROVISIONAL minimal version (the budgets issue replaces it).

API other layers rely on:
  load_config(config_file=None, cwd=None) -> Config      (ConfigError on bad input)
  Config.path, Config.root, Config.paths (globs), Config.settings_for(module_path)
  ModuleSettings: max_growth, max_code_size, max_growth_vs_baseline, baseline, optimize
  resolve_paths(config, given) -> list of module paths
"""

import glob
import os

DEFAULT_PATHS = ["target/wasm32-*/release/*.wasm"]


class ModuleSettings:
    def __init__(self):
        self.max_growth = 0               # bytes the optimizer may add
        self.max_code_size = None         # bytes
        self.max_growth_vs_baseline = None
        self.baseline = None
        self.optimize = True


class Config:
    def __init__(self, path=None, root=None):
        self.path = path
        self.root = root or os.getcwd()
        self.paths = list(DEFAULT_PATHS)

    def settings_for(self, module_path):
        return ModuleSettings()


def load_config(config_file=None, cwd=None):
    return Config(path=config_file, root=cwd)


def resolve_paths(config, given):
    if given:
        return list(given)
    out = []
    for pattern in config.paths:
        out.extend(sorted(glob.glob(os.path.join(config.root, pattern))))
    return out
