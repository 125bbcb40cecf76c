"""`kassa import`: objects created from a CSV file, row by row, through the same parameter
parsers and the same create operations as the API (so the same validation, events and
ledger effects).

kinds.py: what each kind of file creates, its key column and its references to objects of
earlier imports; rows.py: the CSV read as a stream of rows decoded into API forms;
pipeline.py: the validation pass and the write pass, a batch of rows per unit of work;
report.py: the errors, the summary and the progress bar; command.py: the command itself.
"""

KIND_NAMES = ("customers", "products", "prices", "invoiceitems")
"""What `kassa import` imports (here, so that the command line knows them without loading
the services; `kinds.KINDS` declares each)."""
