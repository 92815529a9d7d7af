"""The portal's settings without the API's throttles, for gunicorn under a benchmark's load.

wrk sends hundreds of API requests a second as one reader: the house throttles (120 or 600
a minute) would answer most with 429, and Datasette, beside which they are measured, has none.
"""

from portal.settings import *  # noqa: F403

REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}  # noqa: F405
