"""Streaming readers, one per raw format, every record with its provenance; the top of the bottom
layer (biomatrix_io), above records and files."""

import csv

# Tables: one field of any size is one field. At the csv module's default limit (131,072
# characters) a long field (a titin sequence, a long text) would end the file, or, where a reader
# goes on after the error, the rest of a quoted field would be read as rows. Set once, here, for
# every reader of the package (the limit is the csv module's, process-wide).
csv.field_size_limit(2**31 - 1)
