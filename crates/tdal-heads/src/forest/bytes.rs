//! A forest as bytes: [`RandomForest::to_bytes`] and [`RandomForest::from_bytes`], so a
//! fitted forest can be stored and restored (Python's `pickle` goes through them).
//!
//! The format is small and explicit rather than a serde encoding, so tdal-heads needs no
//! serialisation crate: all numbers little-endian,
//!
//! ```text
//! magic "tdal-rf\0", version u32 = 1
//! params: n_trees u64, posterior_samples u64,
//!         max_features (tag u8: 0 sqrt, 1 log2, 2 all, 3 count; count u64),
//!         max_depth (present u8, u64), bootstrap u8, n_classes (present u8, u64)
//! fitted u8; if 1: n_features u64, n_classes u64, trees u64, then per tree:
//!         nodes u64, per node (feature u32, threshold f32, left u32, right u32),
//!         leaf_slot u32 per node, leaves u64, probs f32 per (leaf, class)
//! ```
//!
//! Reading checks everything it trusts later (children below their parent, features
//! and leaf slots in range, probabilities finite and non-negative), so bytes that did not
//! come from `to_bytes` give [`Error::InvalidBytes`], never a panic or a routing loop.

use super::tree::Tree;
use super::{Fitted, ForestParams, MaxFeatures, RandomForest};
use crate::{Error, Result};

/// First bytes of every serialised forest.
const MAGIC: &[u8; 8] = b"tdal-rf\0";
/// The format version written by this code.
const VERSION: u32 = 1;

/// Appends little-endian numbers to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn usize(&mut self, value: usize) {
        self.u64(value as u64);
    }

    pub(crate) fn f32(&mut self, value: f32) {
        self.u32(value.to_bits());
    }

    fn option(&mut self, value: Option<usize>) {
        self.u8(u8::from(value.is_some()));
        self.usize(value.unwrap_or(0));
    }
}

/// Reads little-endian numbers from a byte slice; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

/// An [`Error::InvalidBytes`] saying `reason`.
pub(crate) fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidBytes {
        reason: reason.into(),
    }
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(invalid(format!("the bytes end inside {what}")));
        };
        self.rest = rest;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take::<1>(what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(what)?))
    }

    pub(crate) fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    pub(crate) fn usize(&mut self, what: &str) -> Result<usize> {
        let value = u64::from_le_bytes(self.take(what)?);
        usize::try_from(value).map_err(|_| invalid(format!("{what} = {value} is too large")))
    }

    fn bool(&mut self, what: &str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(invalid(format!("{what} is {other}, not 0 or 1"))),
        }
    }

    fn option(&mut self, what: &str) -> Result<Option<usize>> {
        let present = self.bool(what)?;
        let value = self.usize(what)?;
        Ok(present.then_some(value))
    }

    /// A count of items of `item_bytes` bytes each that must still fit in the input, so
    /// a corrupt count cannot ask for a huge allocation.
    pub(crate) fn count(&mut self, what: &str, item_bytes: usize) -> Result<usize> {
        let count = self.usize(what)?;
        if count.saturating_mul(item_bytes) > self.rest.len() {
            return Err(invalid(format!(
                "{what} = {count} needs more bytes than remain ({})",
                self.rest.len()
            )));
        }
        Ok(count)
    }
}

fn write_params(out: &mut Writer, params: &ForestParams) {
    out.usize(params.n_trees);
    out.usize(params.posterior_samples);
    let (tag, count) = match params.max_features {
        MaxFeatures::Sqrt => (0, 0),
        MaxFeatures::Log2 => (1, 0),
        MaxFeatures::All => (2, 0),
        MaxFeatures::Count(count) => (3, count),
    };
    out.u8(tag);
    out.usize(count);
    out.option(params.max_depth);
    out.u8(u8::from(params.bootstrap));
    out.option(params.n_classes);
}

fn read_params(input: &mut Reader<'_>) -> Result<ForestParams> {
    let n_trees = input.usize("n_trees")?;
    let posterior_samples = input.usize("posterior_samples")?;
    let tag = input.u8("max_features")?;
    let count = input.usize("max_features")?;
    let max_features = match tag {
        0 => MaxFeatures::Sqrt,
        1 => MaxFeatures::Log2,
        2 => MaxFeatures::All,
        3 => MaxFeatures::Count(count),
        other => return Err(invalid(format!("unknown max_features tag {other}"))),
    };
    let params = ForestParams {
        n_trees,
        posterior_samples,
        max_features,
        max_depth: input.option("max_depth")?,
        bootstrap: input.bool("bootstrap")?,
        n_classes: input.option("n_classes")?,
    };
    params.check()?;
    Ok(params)
}

impl RandomForest {
    /// The forest, fitted or not, as bytes that [`RandomForest::from_bytes`] restores to
    /// a forest with the same parameters and identical predictions.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// use tdal_heads::{ForestParams, RandomForest};
    ///
    /// let x = array![[0.0_f32, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]];
    /// let mut forest = RandomForest::new(ForestParams { n_trees: 10, posterior_samples: 5, ..Default::default() })?;
    /// forest.fit_seeded(x.view(), &[0, 0, 1, 1], 0)?;
    /// let restored = RandomForest::from_bytes(&forest.to_bytes())?;
    /// assert_eq!(restored.predict_per_tree(x.view())?, forest.predict_per_tree(x.view())?);
    /// # Ok::<(), tdal_heads::Error>(())
    /// ```
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Writer::default();
        out.bytes.extend_from_slice(MAGIC);
        out.u32(VERSION);
        write_params(&mut out, &self.params);
        match &self.fitted {
            None => out.u8(0),
            Some(fitted) => {
                out.u8(1);
                out.usize(fitted.n_features);
                out.usize(fitted.n_classes);
                out.usize(fitted.trees.len());
                for tree in &fitted.trees {
                    tree.write(&mut out);
                }
            }
        }
        out.bytes
    }

    /// Restores a forest written by [`RandomForest::to_bytes`].
    ///
    /// # Errors
    /// [`Error::InvalidBytes`] for bytes that are not a forest of this format (wrong
    /// magic or version, truncated, trailing bytes, or trees that are not well formed);
    /// [`Error::InvalidParam`] for stored parameters that [`ForestParams::check`] rejects.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(invalid(
                "they do not start with the tdal random-forest marker (`tdal-rf`)",
            ));
        };
        let mut input = Reader { rest };
        let version = input.u32("the format version")?;
        if version != VERSION {
            return Err(invalid(format!(
                "format version {version}, but this tdal-heads reads version {VERSION}"
            )));
        }
        let params = read_params(&mut input)?;
        let fitted = if input.bool("the fitted flag")? {
            let n_features = input.usize("n_features")?;
            let n_classes = input.usize("n_classes")?;
            if n_features == 0 || n_classes == 0 || n_classes > crate::MAX_CLASSES {
                return Err(invalid(format!(
                    "a fitted forest with {n_features} features and {n_classes} classes"
                )));
            }
            if params.n_classes.is_some_and(|c| c != n_classes) {
                return Err(invalid(format!(
                    "{n_classes} fitted classes but n_classes = {:?}",
                    params.n_classes
                )));
            }
            let n_trees = input.usize("the tree count")?;
            if n_trees != params.n_trees {
                return Err(invalid(format!(
                    "{n_trees} trees stored but n_trees = {}",
                    params.n_trees
                )));
            }
            let trees = (0..n_trees)
                .map(|_| Tree::read(&mut input, n_features, n_classes))
                .collect::<Result<Vec<_>>>()?;
            Some(Fitted {
                trees,
                n_features,
                n_classes,
            })
        } else {
            None
        };
        if !input.rest.is_empty() {
            return Err(invalid(format!(
                "{} unexpected bytes after the forest",
                input.rest.len()
            )));
        }
        Ok(Self { params, fitted })
    }
}
