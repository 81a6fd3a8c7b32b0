"""Snapshots: read one layer through its client into a DataFrame plus the layer's read status.

No Dagster here: the assets in ``defs/`` call these functions and write the frames as Parquet.
"""
