//! The `tdal` command.
fn main() {}
