//! One finding, as data: what the CLI renders for a policy and for a test
//! file alike.

use std::fmt;

use crate::{IndexedSource, Report, Span};

/// A reader's code enum: each variant a stable string that CI
/// configurations and editors match on, and that keeps its meaning once
/// published.
pub trait DiagnosticCode: Copy + fmt::Debug + PartialEq + 'static {
    /// The stable code, as printed and as matched by tools
    /// (`mcp_policy::unknown_scope`).
    fn as_str(self) -> &'static str;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A labelled span. An empty message: the diagnostic's says it all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One finding about a text. The first label is the primary one: its span
/// is where the diagnostic "is" (its line and column); the others are
/// related places in the same text (the first definition of a duplicate).
/// A diagnostic without a label is about the whole text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic<C> {
    pub code: C,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl<C: DiagnosticCode> Diagnostic<C> {
    pub fn error(code: C, message: impl Into<String>) -> Diagnostic<C> {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: C, message: impl Into<String>) -> Diagnostic<C> {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Adds a label: the first one added is the primary one, later ones
    /// are related places.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic<C> {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic<C> {
        self.help = Some(help.into());
        self
    }

    /// The primary label: where the diagnostic is.
    pub fn primary(&self) -> Option<&Label> {
        self.labels.first()
    }

    /// The labels after the primary one.
    pub fn related(&self) -> &[Label] {
        self.labels.get(1..).unwrap_or_default()
    }

    /// Where the diagnostic points: its primary label's span.
    pub fn span(&self) -> Span {
        self.primary().map(|label| label.span).unwrap_or_default()
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Binds the diagnostic to its source for rendering with miette.
    pub fn report(&self, file_name: &str, source: &str) -> Report<C> {
        self.report_indexed(file_name, &IndexedSource::new(source))
    }

    /// As [`Diagnostic::report`], sharing one indexed source among all the
    /// reports of a file: no copy of the text, no scan from its top.
    pub fn report_indexed(&self, file_name: &str, source: &IndexedSource) -> Report<C> {
        Report::new(self.clone(), file_name, source.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Test;

    impl DiagnosticCode for Test {
        fn as_str(self) -> &'static str {
            "test::code"
        }
    }

    #[test]
    fn the_first_label_is_primary_and_the_rest_related() {
        let bare = Diagnostic::error(Test, "bare");
        assert_eq!((bare.primary(), bare.related()), (None, &[][..]));
        assert_eq!(bare.span(), Span::default());
        let two = Diagnostic::warning(Test, "two")
            .with_label(Span::new(4, 6), "here")
            .with_label(Span::new(0, 1), "first here");
        assert!(!two.is_error());
        assert_eq!(two.span(), Span::new(4, 6));
        assert_eq!(two.related().len(), 1);
        assert_eq!(two.related().first().map(|l| l.span), Some(Span::new(0, 1)));
    }
}
