//! The active-learning loop of tdal.
//!
//! This crate will hold the loop of SPEC §7: representation strategies (fixed, TD-SPLIT,
//! TD-FT), head refits, EPIG/BALD scoring with `tdal-acquire`, batch selection, run records
//! and resume (issue: `tdal-loop`). It is an empty placeholder until then.
