"""Reports: a registry of named row sources (`registry`, built-ins in `builtin`), rendered to PDF (`pdf`), XLSX
(`xlsx`) or CSV (`tables`), stored, and delivered by email (`activities.report`)."""
