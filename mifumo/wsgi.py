import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mifumo.settings")
application = get_wsgi_application()

# The objects of start-up (modules, URL patterns, serializers' fields) live as long as the
# process: out of the collector's sight, a full collection no longer walks them all, which
# added 50-150 ms to one request in a hundred (bench/contacts_list.py).
gc.freeze()
