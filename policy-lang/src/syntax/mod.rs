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
//! suppression comments of the lints are read from its tokens.
//!
//! To add a construct (say `deny tool X when COND`, or the atom
//! `arg.repo matches "acme/*"`):
//!
//! 1. its rule in `grammar.pest` (a new keyword as a `kw_` rule; a word
//!    that ends a bare name, such as `when`, in `reserved` too, and the
//!    lexicon's tests tell when the two lists part), and in SPEC.md's copy;
//!    punctuation that may be missing (`==`) as a named rule, so that a
//!    syntax error can name it;
//! 2. its words in [`lexicon`], and any new lexical kind (an operator the
//!    tokens do not know yet) in [`token::lex`], so that recovery, the
//!    nesting limit and comments see it as the grammar does;
//! 3. its human name in `expected.rs` (`expected_name`, `keywords_of`);
//! 4. its node in `ast.rs`, built in `parse.rs`, written back by its
//!    `Display` (one writer: `fmt` uses it too), and its cells in
//!    `format.rs` if it is a statement.
//!
//! Comments need nothing: they attach to whatever statement they stand by.

pub mod cst;
mod expected;
pub(crate) mod grammar;
pub mod lexicon;
pub mod token;
