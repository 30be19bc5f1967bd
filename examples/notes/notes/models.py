from django.db import models


class Note(models.Model):
    text = models.TextField()
    # Filled in by the count_words task, after the note is saved.
    words = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return self.text[:50]
