//! The atoms of a table, each stored once: a clause or a deny condition
//! names its atoms by index, and two rules that test the same thing share
//! one atom (the diff and the matrix treat atoms as variables, so `x == "a"`
//! and `x in ["a"]` must be one).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Atom;

/// The index of an atom in its table's [`AtomCatalog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AtomId(pub u32);

impl AtomId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An atom with its canonical source text, as the compiler prints it
/// (the table never re-implements the language's quoting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomInfo {
    pub atom: Atom,
    pub text: String,
}

/// The atoms of a table, deduplicated.
#[derive(Clone, Debug, Default)]
pub struct AtomCatalog {
    infos: Vec<AtomInfo>,
    index: HashMap<Atom, AtomId>,
}

impl AtomCatalog {
    pub fn new() -> AtomCatalog {
        AtomCatalog::default()
    }

    /// The id of `atom`, added with `text` unless an equal atom is there
    /// already (then its first text stays).
    pub fn intern(&mut self, atom: Atom, text: impl Into<String>) -> AtomId {
        match self.push_unique(AtomInfo {
            atom,
            text: text.into(),
        }) {
            Ok(id) | Err(id) => id,
        }
    }

    /// Adds an atom that must be new: `Err` with the id of the equal atom
    /// already held (an artifact that repeats an atom is refused).
    pub fn push_unique(&mut self, info: AtomInfo) -> Result<AtomId, AtomId> {
        if let Some(id) = self.index.get(&info.atom) {
            return Err(*id);
        }
        let id = AtomId(self.infos.len() as u32);
        self.index.insert(info.atom.clone(), id);
        self.infos.push(info);
        Ok(id)
    }

    /// The id of an atom equal to `atom`, if held.
    pub fn find(&self, atom: &Atom) -> Option<AtomId> {
        self.index.get(atom).copied()
    }

    pub fn get(&self, id: AtomId) -> Option<&AtomInfo> {
        self.infos.get(id.index())
    }

    pub fn atom(&self, id: AtomId) -> Option<&Atom> {
        self.get(id).map(|info| &info.atom)
    }

    /// The atom's source text; empty for an id out of range.
    pub fn text(&self, id: AtomId) -> &str {
        self.get(id).map_or("", |info| info.text.as_str())
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (AtomId, &AtomInfo)> {
        self.infos
            .iter()
            .enumerate()
            .map(|(i, info)| (AtomId(i as u32), info))
    }
}

impl PartialEq for AtomCatalog {
    fn eq(&self, other: &AtomCatalog) -> bool {
        self.infos == other.infos
    }
}

impl Eq for AtomCatalog {}
