//! Importing labels from a CSV file: every row validated, all applied or none.
