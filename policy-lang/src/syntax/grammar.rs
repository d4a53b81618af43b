//! The pest grammar (`src/grammar.pest`), the engine under the syntax
//! layer. Its rules are the concrete tree of a statement.

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct Grammar;
