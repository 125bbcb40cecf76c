"""`kassa reconcile`: two lists of money movements (a ledger and a bank statement, as CSV or
Parquet files, or Kassa's own balance transactions or payouts) compared id by id, or
payouts matched to bank lines, in DuckDB.

inputs.py reads and validates the files (rejected rows listed by line, never dropped);
engine.py compares them in one grouped pass; payouts.py matches payouts to bank lines;
kassa_source.py writes Kassa's own rows out as a file; report.py prints and records the
outcome; command.py is the command itself.
"""
