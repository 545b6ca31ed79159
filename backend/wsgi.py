import os

from django.core.wsgi import get_wsgi_application

from backend.chunked import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

# Chunked bodies are read (or refused) before Django builds the request: backend/chunked.py.
application = ChunkedBodies(get_wsgi_application())
