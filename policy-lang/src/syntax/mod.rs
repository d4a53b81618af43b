//! The syntax layer: the one owner of the language's lexical facts and of
//! its concrete syntax.
//!
//! - [`lexicon`]: name characters, reserved words, requirement keywords,
//!   quoting and escaping;
//! - [`token`]: the source as tokens, comments and blanks included;
//! - [`cst`]: the concrete tree: per statement, pest's tree of it and the
//!   comments and blank lines around it, with the recovery that drives
//!   pest one statement at a time;
//! - `expected`: what a syntax error says was expected, in words.
//!
//! [`crate::parse`] builds the syntax tree ([`crate::ast`]) from the
//! concrete one; [`crate::format`] lays the concrete one out; the
//! suppression comments of the lints are read from it.

pub mod cst;
mod expected;
pub(crate) mod grammar;
pub mod lexicon;
pub mod token;
