//! A diagnostic bound to its text, as miette renders it.

use std::fmt;

use crate::{Diagnostic, DiagnosticCode, IndexedSource, Severity};

/// A diagnostic with its source text, as miette renders it.
#[derive(Debug)]
pub struct Report<C> {
    diagnostic: Diagnostic<C>,
    source: miette::NamedSource<IndexedSource>,
}

impl<C> Report<C> {
    pub(crate) fn new(diagnostic: Diagnostic<C>, file_name: &str, source: IndexedSource) -> Self {
        Report {
            diagnostic,
            source: miette::NamedSource::new(file_name, source),
        }
    }
}

impl<C> fmt::Display for Report<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl<C: fmt::Debug> std::error::Error for Report<C> {}

impl<C: DiagnosticCode> miette::Diagnostic for Report<C> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.diagnostic.labels.iter().enumerate().map(
            |(i, label)| {
                let text = (!label.message.is_empty()).then(|| label.message.clone());
                if i == 0 {
                    miette::LabeledSpan::new_primary_with_span(text, label.span)
                } else {
                    miette::LabeledSpan::new_with_span(text, label.span)
                }
            },
        )))
    }
}
