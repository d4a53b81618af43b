//! The concrete syntax tree: every statement that parsed, with the
//! comments and blank lines around it attached, and the token list under
//! it all (see [`super::token`]). Pest's tree of each statement is handed
//! to the caller (the builder of the syntax tree) as soon as it is parsed,
//! not kept: the trees of a large file would hold many times its size.
//!
//! Pest is driven one statement at a time, so that one run reports every
//! syntax error: after an error, parsing resumes at the next line that
//! begins with a statement keyword. Pest skips comments (`COMMENT` is
//! silent in the grammar); they are attached here from the tokens, by
//! position, once the statements are known:
//!
//! - **leading**: the comments between the previous statement (or its
//!   trailing comment) and this one, each with whether a blank line
//!   stands before it;
//! - **inner**: comments inside a statement that spans lines;
//! - **trailing**: a comment after the statement's last token, on its line.
//!
//! Comments after the last statement are the file's [`Cst::end`].

use pest::Parser as _;
use pest::iterators::Pair;

use super::expected;
use super::grammar::{Grammar, Rule};
use super::lexicon::{SCOPE, is_statement_keyword};
use super::token::{Token, TokenKind, Tokens};
use crate::diagnostic::{Code, Diagnostic};
use mcp_policy_diagnostic::Span;

/// `any_of`/`all_of` nesting deeper than this is rejected before pest sees
/// it: pest recurses per level, and a hostile file must not overflow the
/// stack. No real policy comes near it.
pub const MAX_NESTING: usize = 32;

/// A parsed source: its tokens, and its statements with their comments.
#[derive(Debug)]
pub(crate) struct Cst<'s> {
    tokens: Tokens<'s>,
    statements: Vec<CstStatement>,
    end: Vec<Leading>,
    broken_scopes: Vec<String>,
}

/// One statement that parsed.
#[derive(Debug)]
pub(crate) struct CstStatement {
    /// From its first token to its last. Pest's own span (and its inner
    /// pairs') runs on over the blanks and comments it skipped looking for
    /// an optional part (a description, `implies`, another `, NAME`).
    pub span: Span,
    pub leading: Vec<Leading>,
    /// A blank line between the statement and what stands before it.
    pub blank_before: bool,
    pub inner: Vec<Span>,
    pub trailing: Option<Span>,
}

/// A comment on a line of its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leading {
    pub comment: Span,
    /// A blank line between the comment and what stands before it.
    pub blank_before: bool,
}

/// Parses `source` into its concrete tree; the diagnostics are its syntax
/// errors (the statements they broke are not in the tree). `each` gets
/// pest's tree of every statement that parsed, in order, with the offset
/// its positions count from and the statement's span.
pub(crate) fn parse<'s>(
    source: &'s str,
    mut each: impl FnMut(Pair<'s, Rule>, usize, Span),
) -> (Cst<'s>, Vec<Diagnostic>) {
    let mut cst = Cst {
        tokens: Tokens::new(source),
        statements: Vec::new(),
        end: Vec::new(),
        broken_scopes: Vec::new(),
    };
    let mut diagnostics = Vec::new();
    if let Some(diagnostic) = cst.check_nesting() {
        diagnostics.push(diagnostic);
        return (cst, diagnostics);
    }
    let mut pos = cst.skip_trivia(0);
    while pos < source.len() {
        let rest = source.get(pos..).unwrap_or_default();
        match Grammar::parse(Rule::statement, rest) {
            Ok(mut pairs) => {
                let Some(tree) = pairs.next() else { break };
                let start = pos + tree.as_span().start();
                let end = pos + tree.as_span().end();
                let span = Span::new(start, cst.significant_end(start, end));
                each(tree, pos, span);
                cst.statements.push(CstStatement {
                    span,
                    leading: Vec::new(),
                    blank_before: false,
                    inner: Vec::new(),
                    trailing: None,
                });
                pos = cst.skip_trivia(end.max(pos + 1));
            }
            Err(error) => {
                let (at, expected) =
                    expected::expectation(&error, |at| cst.word_or_string_at(pos + at));
                let at = pos + at;
                diagnostics.push(expected::syntax_error(&cst, at, &expected));
                if let Some(name) = cst.declared_scope_name(pos) {
                    cst.broken_scopes.push(name);
                }
                pos = cst.resync(pos, at.max(pos));
            }
        }
    }
    cst.attach_comments();
    (cst, diagnostics)
}

impl<'s> Cst<'s> {
    pub fn source(&self) -> &'s str {
        self.tokens.source()
    }

    /// The text of a span.
    pub fn text(&self, span: Span) -> &'s str {
        self.tokens.text(span)
    }

    /// The texts of the comments, in order, without trailing whitespace.
    pub fn comment_texts(&self) -> Vec<&'s str> {
        self.tokens.comment_texts()
    }

    fn token_at(&self, at: usize) -> usize {
        self.tokens.index_at(at)
    }

    fn tokens_between(&self, start: usize, end: usize) -> &[Token] {
        self.tokens.between(start, end)
    }

    pub fn statements(&self) -> &[CstStatement] {
        &self.statements
    }

    /// The comments after the last statement.
    pub fn end(&self) -> &[Leading] {
        &self.end
    }

    /// Names of scope declarations that failed to parse.
    pub fn broken_scopes(&self) -> &[String] {
        &self.broken_scopes
    }

    /// Rejects nesting deeper than [`MAX_NESTING`], counting parentheses
    /// outside strings and comments.
    fn check_nesting(&self) -> Option<Diagnostic> {
        let mut depth = 0usize;
        for token in self.tokens.all() {
            match token.kind {
                TokenKind::Open => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(
                            Diagnostic::error(
                                Code::NestingTooDeep,
                                format!("requirement nested more than {MAX_NESTING} levels deep"),
                            )
                            .with_label(token.span, "too deep")
                            .with_help("flatten the requirement: `any_of(a, any_of(b, c))` is `any_of(a, b, c)`"),
                        );
                    }
                }
                TokenKind::Close => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    /// The first position from `pos` that is not trivia.
    fn skip_trivia(&self, pos: usize) -> usize {
        let mut index = self.token_at(pos);
        while let Some(token) = self.tokens.all().get(index) {
            if !token.kind.is_trivia() {
                return token.span.start.max(pos);
            }
            index += 1;
        }
        self.source().len()
    }

    /// The end of the last token in `start..end` that is not trivia.
    fn significant_end(&self, start: usize, end: usize) -> usize {
        self.tokens_between(start, end)
            .iter()
            .rev()
            .find(|token| !token.kind.is_trivia())
            .map_or(start, |token| token.span.end.min(end))
    }

    /// `true` when only blanks stand between the start of the line and `at`.
    pub fn starts_line(&self, at: usize) -> bool {
        let index = self.token_at(at);
        if let Some(token) = self.tokens.all().get(index)
            && token.span.start < at
            && token.kind != TokenKind::Blank
        {
            return false;
        }
        let before = self.tokens.all().get(..index).unwrap_or_default();
        for token in before.iter().rev() {
            match token.kind {
                TokenKind::Blank => {}
                TokenKind::Newline => return true,
                _ => return false,
            }
        }
        true
    }

    /// Whether a word or a string begins at `at`.
    fn word_or_string_at(&self, at: usize) -> bool {
        self.tokens
            .all()
            .get(self.token_at(at))
            .is_some_and(|token| {
                token.span.start == at && matches!(token.kind, TokenKind::Word | TokenKind::Str)
            })
    }

    /// The rest of the word at `at`, if a word stands there.
    fn word_at(&self, at: usize) -> Option<&'s str> {
        let token = self.tokens.all().get(self.token_at(at))?;
        (token.kind == TokenKind::Word && token.span.start <= at)
            .then(|| self.text(Span::new(at, token.span.end)))
    }

    /// After an error, resumes at the next line that begins with a statement
    /// keyword: the lines between belong to the broken statement. The error
    /// may itself stand on such a keyword (the statement before it was cut
    /// short); then parsing resumes right there.
    fn resync(&self, statement_start: usize, error_at: usize) -> usize {
        if error_at > statement_start
            && self.starts_line(error_at)
            && self.word_at(error_at).is_some_and(is_statement_keyword)
        {
            return error_at;
        }
        let mut index = self.token_at(error_at);
        let mut line_start = false;
        while let Some(token) = self.tokens.all().get(index) {
            match token.kind {
                TokenKind::Newline => line_start = true,
                TokenKind::Blank if line_start => {}
                TokenKind::Word if line_start && is_statement_keyword(self.text(token.span)) => {
                    return token.span.start;
                }
                _ => line_start = false,
            }
            index += 1;
        }
        self.source().len()
    }

    /// The name a broken `scope NAME ...` statement declares, if it got
    /// that far. The name is taken as written: a quoted one up to its
    /// first `"`.
    fn declared_scope_name(&self, start: usize) -> Option<String> {
        let index = self.token_at(start);
        let mut tokens = self.tokens.all().get(index..).unwrap_or_default().iter();
        let keyword = tokens.next()?;
        if keyword.span.start != start || self.text(keyword.span) != SCOPE {
            return None;
        }
        if tokens.next()?.kind != TokenKind::Blank {
            return None;
        }
        let name = tokens.find(|token| {
            !matches!(
                token.kind,
                TokenKind::Blank | TokenKind::Newline | TokenKind::Return
            )
        })?;
        let text = self.text(name.span);
        let name = match name.kind {
            TokenKind::Word => text,
            TokenKind::Str => {
                let body = text.get(1..).unwrap_or_default();
                body.split('"').next().unwrap_or_default()
            }
            _ => "",
        };
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Whether a blank line stands between `end` (the end of the last item
    /// placed, `None` at the start of the file) and `start`.
    fn blank_between(&self, end: Option<usize>, start: usize) -> bool {
        end.is_some_and(|end| {
            self.tokens_between(end, start)
                .iter()
                .filter(|token| token.kind == TokenKind::Newline)
                .nth(1)
                .is_some()
        })
    }

    fn attach_comments(&mut self) {
        let comments: Vec<Span> = self
            .tokens
            .all()
            .iter()
            .filter(|token| token.kind == TokenKind::Comment)
            .map(|token| token.span)
            .collect();
        let mut comments = comments.into_iter().peekable();
        let mut last_end: Option<usize> = None;
        let mut statements = std::mem::take(&mut self.statements);
        for statement in &mut statements {
            let Span { start, end } = statement.span;
            while let Some(comment) = comments.next_if(|comment| comment.start < start) {
                statement.leading.push(Leading {
                    comment,
                    blank_before: self.blank_between(last_end, comment.start),
                });
                last_end = Some(comment.end);
            }
            statement.blank_before = self.blank_between(last_end, start);
            while let Some(comment) = comments.next_if(|comment| comment.start < end) {
                statement.inner.push(comment);
            }
            // Only blanks, on the same line, between the statement and a
            // comment that trails it (another statement may stand between).
            statement.trailing = comments.next_if(|comment| {
                self.tokens_between(end, comment.start)
                    .iter()
                    .all(|token| matches!(token.kind, TokenKind::Blank | TokenKind::Return))
            });
            last_end = Some(statement.trailing.map_or(end, |comment| comment.end));
        }
        self.statements = statements;
        for comment in comments {
            self.end.push(Leading {
                comment,
                blank_before: self.blank_between(last_end, comment.start),
            });
            last_end = Some(comment.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst(source: &str) -> Cst<'_> {
        let (cst, diagnostics) = parse(source, |_, _, _| {});
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        cst
    }

    fn texts<'s>(cst: &Cst<'s>, spans: impl IntoIterator<Item = Span>) -> Vec<&'s str> {
        spans.into_iter().map(|span| cst.text(span)).collect()
    }

    #[test]
    fn comments_attach_to_the_statement_they_stand_by() {
        let source = "# a\n\n# b\ntool x requires any_of(y,  # c\n  z)  # d\n\n# e\n";
        let cst = cst(source);
        let [statement] = cst.statements() else {
            panic!("{:?}", cst.statements())
        };
        assert_eq!(
            texts(&cst, statement.leading.iter().map(|l| l.comment)),
            ["# a", "# b"]
        );
        assert_eq!(
            statement
                .leading
                .iter()
                .map(|l| l.blank_before)
                .collect::<Vec<_>>(),
            [false, true]
        );
        assert!(!statement.blank_before);
        assert_eq!(texts(&cst, statement.inner.iter().copied()), ["# c"]);
        assert_eq!(texts(&cst, statement.trailing), ["# d"]);
        assert_eq!(texts(&cst, cst.end().iter().map(|l| l.comment)), ["# e"]);
        assert!(cst.end().iter().all(|l| l.blank_before));
    }

    #[test]
    fn comments_above_are_whole_lines_up_to_a_blank_or_other_line() {
        let source = "# far\n\n# x\r\n  # y\r\ntool a requires b # t\n# z\ntool c requires d  tool e requires f\n";
        let cst = cst(source);
        let tokens = &cst.tokens;
        let starts: Vec<usize> = cst.statements().iter().map(|s| s.span.start).collect();
        assert_eq!(
            texts(&cst, tokens.comments_above(starts[0])),
            ["# x\r", "# y\r"]
        );
        assert_eq!(texts(&cst, tokens.comments_above(starts[1])), ["# z"]);
        // The second statement of a line sees the comments above the line.
        assert_eq!(texts(&cst, tokens.comments_above(starts[2])), ["# z"]);
        assert!(tokens.comments_above(0).is_empty());
    }

    #[test]
    fn huge_inputs_are_linear_and_do_not_overflow() {
        let newlines = "\n".repeat(1_000_000);
        assert!(cst(&newlines).statements().is_empty());
        let parens = "(".repeat(1_000_000);
        let (_, diagnostics) = parse(&parens, |_, _, _| {});
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, Code::NestingTooDeep);
        let comments = "# (((\n".repeat(200_000);
        assert_eq!(cst(&comments).end().len(), 200_000);
        let mut rules = String::new();
        for i in 0..20_000 {
            rules.push_str(&format!("# r{i}\ntool t{i} requires s  # why\n"));
        }
        let cst = cst(&rules);
        assert_eq!(cst.statements().len(), 20_000);
        assert!(
            cst.statements()
                .iter()
                .all(|s| s.leading.len() == 1 && s.trailing.is_some())
        );
    }

    #[test]
    fn recovery_resumes_at_the_next_statement_keyword_on_a_line() {
        let source = "tool x requries a\n  , b\n\ttool y requires c\ntool (\r\ntool z requires d\n";
        let mut spans = Vec::new();
        let (cst, diagnostics) = parse(source, |_, _, span| spans.push(span));
        assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
        assert_eq!(
            texts(&cst, spans),
            ["tool y requires c", "tool z requires d"]
        );
    }
}
