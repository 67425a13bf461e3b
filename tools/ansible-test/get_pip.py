"""Stands in for pypa's get-pip.py when ansible-test bootstraps pip into the
virtual environments of its sanity tests.

ansible-test downloads get-pip.py from its own CI file host, which our
machines cannot reach (only the package registries); it uses a copy saved
under ``~/.ansible/test/cache/get_pip_<version>.py`` instead, and
``make collection-sanity`` saves this file there. It does what get-pip.py
does with the pip that Python itself bundles: install pip (``ensurepip``),
then the versions asked (``pip==25.2`` and the like) from the package index.
"""

import ensurepip
import importlib
import runpy
import sys

# get-pip.py's own options; ansible-test passes them to keep setuptools and
# wheel out, which a plain ``pip install`` does anyway.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=False)
importlib.invalidate_caches()
sys.argv = ["pip", "install", "--upgrade", *[arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
