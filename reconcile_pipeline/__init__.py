"""reconcile-pipeline: prove that the layers of a blockchain-backed platform agree, and put them right."""

__version__ = "0.1.0"
