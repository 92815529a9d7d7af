"""The fixed vocabularies of the agreements app, as plain constants.

No Django here: the pure readers (``agreements.ice_sheet``,
``agreements.normalize``, ``agreements.services.dating``) use these values,
and ``agreements.models`` builds its translated choices from them.
"""

from __future__ import annotations

# Models of agreement (ICE's "SUPPORT TYPE").
JEM = "JEM"
TFM = "TFM"
WSO = "WSO"

# Kinds of agency.
COUNTY = "county"
MUNICIPALITY = "municipality"
STATE = "state"
OTHER = "other"

# Kinds of ICE list.
PARTICIPATING = "participating"
PENDING = "pending"

# Where a list's publication time came from.
FROM_ARGUMENT = "argument"
FROM_CAPTURE = "capture"
FROM_METADATA = "metadata"
FROM_FILENAME = "filename"
FROM_FETCHED = "fetched"

# What a list file is: ICE's own workbook, or a table parsed from a capture of ICE's page.
WORKBOOK = "workbook"
CAPTURED_TABLE = "capture"
