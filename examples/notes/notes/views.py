from django.conf import settings
from django.shortcuts import render

from .models import Note


def index(request):
    notes = Note.objects.all()[: settings.NOTES_PAGE_SIZE]
    return render(request, "notes/index.html", {"title": "Notes", "notes": notes})
