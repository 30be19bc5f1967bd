from celery import shared_task
from django.utils import timezone

from .models import Note


@shared_task
def count_words(note_id):
    """Store the number of words in a note and return it."""
    note = Note.objects.get(pk=note_id)
    note.words = len(note.text.split())
    note.save(update_fields=["words"])
    return note.words


@shared_task
def stamp():
    """Run by beat every 10 seconds: shows that worker and beat are alive."""
    note = Note.objects.create(text=f"stamp from beat at {timezone.now().isoformat()}")
    return note.id
