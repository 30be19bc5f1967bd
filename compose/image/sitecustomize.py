"""Python imports this module at every start in the kit's image (it is on PYTHONPATH, /opt/kit).

It exports the secret files Compose mounts under /run/secrets as variables
of this process only, so that they never sit in the container's configuration
(deploykit/secrets.py says how). Outside the image (a laptop's manage.py,
the test suites) there is no /run/secrets and it does nothing.
"""

from deploykit import secrets

secrets.load()
