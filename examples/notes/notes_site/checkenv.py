"""The notes project's own check of the env file: ``python -m notes_site.checkenv``.

The kit runs it after its own (KIT_CHECK_MODULE, set by the inventory's
django_stack_check_module), with the settings loaded. It refuses by exiting
with one ``configuration error`` line.
"""

import sys

from django.conf import settings

if not 1 <= settings.NOTES_PAGE_SIZE <= 100:
    sys.exit(f"configuration error: NOTES_PAGE_SIZE must be from 1 to 100, not {settings.NOTES_PAGE_SIZE}")
