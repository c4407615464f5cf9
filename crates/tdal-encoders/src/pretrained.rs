//! Backbone weights from a safetensors file, so that a network starts from weights trained
//! elsewhere instead of its seeded initialisation (the paper starts GALAXY's ResNet-18
//! from ImageNet weights; tdal never downloads, so the user supplies the file).
//!
//! [`BackboneWeights`] reads a file and resolves its tensors onto the variables of a
//! [`SupervisedModel`]'s backbone (the variables under `encoder.`); the model copies them
//! in with [`SupervisedModel::set_backbone`], or both at once with
//! [`SupervisedModel::load_backbone`]. Nothing outside the backbone is touched: the fully
//! connected and output layers keep their seeded initialisation. Two namings are
//! understood, whichever names more of the backbone's variables:
//!
//! - **tdal's own names**, with or without the `encoder.` prefix of a checkpoint
//!   (`stem.conv.weight`, `s1b0.shortcut.bn.running_var`, `l0.conv.weight`): the
//!   `model.safetensors` of [`SupervisedModel::save`], of a SimCLR or TD-FT encoder, or
//!   of `tdal label export`, for every backbone, the small CNN included;
//! - **torchvision's ResNet state-dict names**, onto the CIFAR-style ResNet-18 and
//!   ResNet-50 ([`torchvision_name`]): `conv1` / `bn1` are the stem's convolution and
//!   normalisation, `layer{L}.{b}` is block `s{L−1}b{b}`, `conv{k}` / `bn{k}` its layer
//!   `c{k}`, `downsample.0` / `downsample.1` its shortcut's convolution and
//!   normalisation. `fc.*` (ImageNet's classifier) and `*.num_batches_tracked` initialise
//!   nothing and are reported as ignored. Both sides keep PyTorch's batch-normalisation
//!   conventions (ε = 1e-5, the running variance unbiased), so the statistics copy as
//!   they are.
//!
//! A tensor outside the backbone (`fc.*`, a checkpoint's `hidden.*`, `output.*` or
//! `projection.*`) is reported as ignored, but one that looks like part of a backbone and
//! names no variable of this one is an error ([`WeightsProblem::Unexpected`]): under
//! tdal's names any other `encoder.` tensor, under torchvision's any other `conv1.*`,
//! `bn1.*` or `layer*` tensor but the `num_batches_tracked` counters (a ResNet-34's
//! `layer1.2.*` on the ResNet-18, a ResNet-101's extra blocks on the ResNet-50, a stem's
//! `conv1.bias` this network does not have). Every variable would find its tensor there,
//! and ignoring the rest would load a truncated copy of the file's network.
//!
//! Every backbone variable must be in the file with its shape, except the **input
//! convolution** (the ResNet stem `stem.conv.weight`, the small CNN's `l0.conv.weight`),
//! whose input channels and kernel depend on the images it was trained on:
//!
//! - same shape: copied;
//! - same kernel, 3 input channels in the file and C ≠ 3 here: adapted as timm's
//!   `adapt_input_conv` does — for C = 1 the kernel summed over the file's RGB channels
//!   (a grey image `x` then gets the response the RGB network gives to `(x, x, x)`); for
//!   other C the RGB kernel repeated ⌈C/3⌉ times, cut to C channels and scaled by 3/C;
//! - another kernel (ImageNet's 7 × 7 stride-2 stem against the 3 × 3 stride-1 stem of
//!   the CIFAR-style network): **kept at its seeded initialisation**. A crop or a
//!   resampling of the 7 × 7 kernel computes another function than the one learnt (at
//!   another stride, without the max-pool that followed it), so any choice would be a
//!   guess; the first layer has the fewest weights to learn. The convolution's
//!   normalisation (`bn1` → `stem.bn.*`) is **kept at its initialisation** with it: the
//!   file's scales, shifts and running statistics describe the outputs of the file's
//!   convolution, not of this one.
//!
//! Any other difference (a missing tensor, another shape, integer values) is an
//! [`Error::InitWeights`] that names the tensor; f16, bf16 and f64 values are converted to
//! f32. What was copied, adapted, kept and ignored is a [`LoadReport`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;

use crate::backbone::Backbone;
use crate::init::poisoned;
use crate::supervised::SupervisedModel;
use crate::{Error, Result, WeightsProblem};

/// The prefix of a backbone's variables in a model's variable map.
pub const BACKBONE_PREFIX: &str = "encoder.";

/// Which names a file's tensors carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Naming {
    /// tdal's own variable names (with or without `encoder.`).
    Tdal,
    /// torchvision's ResNet state-dict names.
    Torchvision,
}

impl fmt::Display for Naming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tdal => "tdal",
            Self::Torchvision => "torchvision",
        })
    }
}

/// A variable copied from a file tensor of its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// The model's variable (`encoder.stem.bn.weight`).
    pub variable: String,
    /// The file's tensor (`bn1.weight`).
    pub tensor: String,
}

/// A variable computed from a file tensor of another shape (the input convolution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adapted {
    /// The model's variable.
    pub variable: String,
    /// The file's tensor.
    pub tensor: String,
    /// How the value was obtained.
    pub how: String,
}

/// A variable left at its seeded initialisation although the file has a tensor for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The model's variable.
    pub variable: String,
    /// The file's tensor that could not initialise it.
    pub tensor: String,
    /// Why.
    pub reason: String,
}

/// What a file of initial weights did to a backbone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// The file.
    pub file: PathBuf,
    /// The naming its tensors were read with.
    pub naming: Naming,
    /// Variables copied as they are (converted to f32), in variable-name order.
    pub copied: Vec<Copied>,
    /// Variables adapted from a tensor of another shape.
    pub adapted: Vec<Adapted>,
    /// Variables left at their initialisation: the input convolution, then its
    /// normalisation's variables in name order.
    pub kept: Vec<Kept>,
    /// The file's tensors that initialise nothing, in name order.
    pub ignored: Vec<String>,
}

impl fmt::Display for LoadReport {
    /// One line: the counts, every adapted and kept variable with its reason (kept ones of
    /// one reason together), and the first ignored tensors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} names): {} backbone tensors copied",
            self.file.display(),
            self.naming,
            self.copied.len()
        )?;
        for a in &self.adapted {
            write!(f, "; {} adapted from {}: {}", a.variable, a.tensor, a.how)?;
        }
        for group in self.kept.chunk_by(|a, b| a.reason == b.reason) {
            let variables: Vec<&str> = group.iter().map(|k| k.variable.as_str()).collect();
            let its = if group.len() == 1 { "its" } else { "their" };
            write!(
                f,
                "; {} kept at {its} initialisation: {}",
                variables.join(", "),
                group[0].reason
            )?;
        }
        if !self.ignored.is_empty() {
            write!(
                f,
                "; {} file tensors ignored ({})",
                self.ignored.len(),
                first_few(&self.ignored)
            )?;
        }
        Ok(())
    }
}

/// Up to four names, then how many more.
pub(crate) fn first_few(names: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// A file's tensors resolved onto one backbone's variables: the values to copy (f32, on
/// the CPU, in the variables' shapes) and the [`LoadReport`].
#[derive(Debug, Clone)]
pub struct BackboneWeights {
    values: Vec<(String, Tensor)>,
    report: LoadReport,
}

impl BackboneWeights {
    /// Reads `path` and resolves its tensors onto `model`'s backbone (see the module
    /// documentation).
    ///
    /// # Errors
    /// [`Error::InitWeights`]: the file cannot be read or is not safetensors, no tensor
    /// names a backbone variable, a backbone variable is missing, a tensor that looks like
    /// part of a backbone names no variable of this one (a deeper network's), a tensor has
    /// another shape (beyond the input convolution's adaptations) or holds no
    /// floating-point values. [`Error::Candle`]: a tensor's values cannot be loaded,
    /// converted to f32 or adapted. [`Error::Config`]: the model's variable map is behind
    /// a lock poisoned by a panicking thread.
    pub fn read(path: &Path, model: &SupervisedModel) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::InitWeights {
            path: path.to_path_buf(),
            problem: Box::new(WeightsProblem::Unreadable(e.to_string())),
        })?;
        Self::from_bytes(&bytes, path, model)
    }

    /// [`BackboneWeights::read`] on the bytes of a file; `origin` names it in errors and
    /// in the report.
    ///
    /// # Errors
    /// As [`BackboneWeights::read`].
    pub fn from_bytes(bytes: &[u8], origin: &Path, model: &SupervisedModel) -> Result<Self> {
        let wanted = variables_under(model.varmap(), BACKBONE_PREFIX)?;
        resolve(bytes, origin, model.config().backbone, &wanted)
    }

    /// What the file initialises.
    #[must_use]
    pub const fn report(&self) -> &LoadReport {
        &self.report
    }

    /// The values to copy: each variable's full name and its f32 CPU tensor.
    #[must_use]
    pub fn values(&self) -> &[(String, Tensor)] {
        &self.values
    }
}

/// The variables under `prefix` (the prefix removed) and their shapes.
fn variables_under(varmap: &VarMap, prefix: &str) -> Result<BTreeMap<String, Vec<usize>>> {
    let vars = varmap.data().lock().map_err(|_| poisoned())?;
    Ok(vars
        .iter()
        .filter_map(|(name, var)| {
            let rest = name.strip_prefix(prefix)?;
            Some((rest.to_owned(), var.dims().to_vec()))
        })
        .collect())
}

/// Copies resolved weights into `varmap`'s variables, all or none.
pub(crate) fn copy_into(varmap: &VarMap, weights: &BackboneWeights) -> Result<()> {
    let vars = varmap.data().lock().map_err(|_| poisoned())?;
    let mut targets = Vec::with_capacity(weights.values.len());
    for (name, value) in &weights.values {
        let var = vars.get(name).ok_or_else(|| {
            Error::Shape(format!(
                "the initial weights of {} are for another network: this one has no \
                 variable {name}",
                weights.report.file.display()
            ))
        })?;
        if var.dims() != value.dims() {
            return Err(Error::Shape(format!(
                "the initial weights of {} are for another network: {name} is {:?} here, \
                 {:?} there",
                weights.report.file.display(),
                var.dims(),
                value.dims()
            )));
        }
        targets.push((var, value));
    }
    for (var, value) in targets {
        var.set(&value.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// The backbone variable (tdal's name, without `encoder.`) that a torchvision ResNet
/// state-dict name initialises, if any: `conv1.weight` → `stem.conv.weight`,
/// `bn1.running_mean` → `stem.bn.running_mean`, `layer2.0.conv1.weight` →
/// `s1b0.c1.conv.weight`, `layer2.0.bn2.bias` → `s1b0.c2.bn.bias`,
/// `layer2.0.downsample.0.weight` → `s1b0.shortcut.conv.weight`,
/// `layer2.0.downsample.1.weight` → `s1b0.shortcut.bn.weight`; `fc.*`,
/// `*.num_batches_tracked` and anything else → `None`.
#[must_use]
pub fn torchvision_name(name: &str) -> Option<String> {
    if let Some(leaf) = name.strip_prefix("conv1.") {
        return (leaf == "weight").then(|| "stem.conv.weight".to_owned());
    }
    if let Some(leaf) = name.strip_prefix("bn1.") {
        return bn_leaf(leaf).map(|leaf| format!("stem.bn.{leaf}"));
    }
    let rest = name.strip_prefix("layer")?;
    let (stage, rest) = rest.split_once('.')?;
    let stage: usize = stage.parse().ok().filter(|s| (1..=4).contains(s))?;
    let (block, rest) = rest.split_once('.')?;
    let block: usize = block.parse().ok()?;
    let unit = format!("s{}b{block}", stage - 1);
    let (layer, leaf) = rest.split_once('.')?;
    if layer == "downsample" {
        let (index, leaf) = leaf.split_once('.')?;
        return match index {
            "0" if leaf == "weight" => Some(format!("{unit}.shortcut.conv.weight")),
            "1" => bn_leaf(leaf).map(|leaf| format!("{unit}.shortcut.bn.{leaf}")),
            _ => None,
        };
    }
    let numbered = |kind: &str| -> Option<usize> {
        layer
            .strip_prefix(kind)?
            .parse()
            .ok()
            .filter(|k| (1..=3).contains(k))
    };
    if let Some(k) = numbered("conv") {
        return (leaf == "weight").then(|| format!("{unit}.c{k}.conv.weight"));
    }
    let k = numbered("bn")?;
    bn_leaf(leaf).map(|leaf| format!("{unit}.c{k}.bn.{leaf}"))
}

/// A batch normalisation's variable (`num_batches_tracked` is PyTorch's alone).
fn bn_leaf(leaf: &str) -> Option<&str> {
    matches!(leaf, "weight" | "bias" | "running_mean" | "running_var").then_some(leaf)
}

/// The input convolution of a backbone, the one variable that may be adapted.
const fn input_conv(backbone: Backbone) -> &'static str {
    match backbone {
        Backbone::SmallCnn => "l0.conv.weight",
        Backbone::ResNet18 | Backbone::ResNet50 => "stem.conv.weight",
    }
}

/// The prefix of the variables of the input convolution's normalisation, kept at their
/// initialisation when the convolution is.
const fn input_norm(backbone: Backbone) -> &'static str {
    match backbone {
        Backbone::SmallCnn => "l0.bn.",
        Backbone::ResNet18 | Backbone::ResNet50 => "stem.bn.",
    }
}

/// Whether a file tensor that initialises nothing looks like part of a backbone under
/// `naming` (so that ignoring it would truncate the file's network): under tdal's names
/// any `encoder.` tensor, under torchvision's any `conv1.*`, `bn1.*` or `layer*` tensor
/// but PyTorch's `num_batches_tracked` counters.
fn part_of_a_backbone(naming: Naming, name: &str) -> bool {
    match naming {
        Naming::Tdal => name.starts_with(BACKBONE_PREFIX),
        Naming::Torchvision => {
            ["conv1.", "bn1.", "layer"]
                .into_iter()
                .any(|prefix| name.starts_with(prefix))
                && !name.ends_with(".num_batches_tracked")
        }
    }
}

fn resolve(
    bytes: &[u8],
    origin: &Path,
    backbone: Backbone,
    wanted: &BTreeMap<String, Vec<usize>>,
) -> Result<BackboneWeights> {
    let fail = |problem: WeightsProblem| Error::InitWeights {
        path: origin.to_path_buf(),
        problem: Box::new(problem),
    };
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| fail(WeightsProblem::NotSafetensors(e.to_string())))?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_owned).collect();
    names.sort();

    // Each naming's sources: backbone variable → the file's tensor. With and without the
    // prefix both present, the prefixed one (a checkpoint's own) wins.
    let mut tdal: BTreeMap<String, String> = BTreeMap::new();
    for name in &names {
        let (variable, prefixed) = match name.strip_prefix(BACKBONE_PREFIX) {
            Some(rest) => (rest, true),
            None => (name.as_str(), false),
        };
        if wanted.contains_key(variable) && (prefixed || !tdal.contains_key(variable)) {
            tdal.insert(variable.to_owned(), name.clone());
        }
    }
    let mut torchvision: BTreeMap<String, String> = BTreeMap::new();
    if backbone != Backbone::SmallCnn {
        for name in &names {
            if let Some(variable) = torchvision_name(name).filter(|v| wanted.contains_key(v)) {
                torchvision.insert(variable, name.clone());
            }
        }
    }
    let (naming, sources) = if torchvision.len() > tdal.len() {
        (Naming::Torchvision, torchvision)
    } else {
        (Naming::Tdal, tdal)
    };
    if sources.is_empty() {
        return Err(fail(WeightsProblem::NoMatch {
            backbone,
            tensors: names.len(),
            examples: first_few(&names),
        }));
    }
    // Missing variables are named as the file names the others: under tdal's names with
    // the `encoder.` prefix if the file has it.
    let tdal_prefix = if sources.values().any(|s| s.starts_with(BACKBONE_PREFIX)) {
        BACKBONE_PREFIX
    } else {
        ""
    };
    let missing: Vec<String> = wanted
        .keys()
        .filter(|v| !sources.contains_key(*v))
        .map(|v| match naming {
            Naming::Tdal => format!("{tdal_prefix}{v}"),
            Naming::Torchvision => torchvision_source(v),
        })
        .collect();
    if !missing.is_empty() {
        return Err(fail(WeightsProblem::Missing {
            backbone,
            naming,
            count: missing.len(),
            names: first_few(&missing),
        }));
    }

    let ignored: Vec<String> = names
        .iter()
        .filter(|n| !sources.values().any(|s| s == *n))
        .cloned()
        .collect();
    let unexpected: Vec<String> = ignored
        .iter()
        .filter(|n| part_of_a_backbone(naming, n))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        return Err(fail(WeightsProblem::Unexpected {
            backbone,
            naming,
            count: unexpected.len(),
            names: first_few(&unexpected),
        }));
    }

    let mut values = Vec::new();
    let mut report = LoadReport {
        file: origin.to_path_buf(),
        naming,
        copied: Vec::new(),
        adapted: Vec::new(),
        kept: Vec::new(),
        ignored,
    };
    for (variable, shape) in wanted {
        let tensor = &sources[variable];
        let full = format!("{BACKBONE_PREFIX}{variable}");
        let view = file
            .tensor(tensor)
            .map_err(|e| fail(WeightsProblem::NotSafetensors(e.to_string())))?;
        if !matches!(
            view.dtype(),
            Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64
        ) {
            return Err(fail(WeightsProblem::Dtype {
                tensor: tensor.clone(),
                dtype: format!("{:?}", view.dtype()),
            }));
        }
        let found = view.shape().to_vec();
        let value = view.load(&Device::Cpu)?.to_dtype(DType::F32)?;
        if &found == shape {
            values.push((full.clone(), value));
            report.copied.push(Copied {
                variable: full,
                tensor: tensor.clone(),
            });
            continue;
        }
        let shape_error = || {
            fail(WeightsProblem::Shape {
                tensor: tensor.clone(),
                variable: full.clone(),
                expected: shape.clone(),
                found: found.clone(),
            })
        };
        if variable != input_conv(backbone) {
            return Err(shape_error());
        }
        match adapt_input_conv(&value, shape)? {
            InputConv::Adapted(adapted, how) => {
                values.push((full.clone(), adapted));
                report.adapted.push(Adapted {
                    variable: full,
                    tensor: tensor.clone(),
                    how,
                });
            }
            InputConv::Kept(reason) => report.kept.push(Kept {
                variable: full,
                tensor: tensor.clone(),
                reason,
            }),
            InputConv::Unfit => return Err(shape_error()),
        }
    }
    keep_input_norm(backbone, &mut values, &mut report);
    Ok(BackboneWeights { values, report })
}

/// When the input convolution is kept at its initialisation, keeps its normalisation
/// there too: the file's values describe the outputs of the file's convolution, not of
/// this one. Its variables move from the values and `copied` to `kept`, after the
/// convolution.
fn keep_input_norm(
    backbone: Backbone,
    values: &mut Vec<(String, Tensor)>,
    report: &mut LoadReport,
) {
    let conv = format!("{BACKBONE_PREFIX}{}", input_conv(backbone));
    let Some(tensor) = report
        .kept
        .iter()
        .find(|k| k.variable == conv)
        .map(|k| k.tensor.clone())
    else {
        return;
    };
    let norm = format!("{BACKBONE_PREFIX}{}", input_norm(backbone));
    values.retain(|(name, _)| !name.starts_with(norm.as_str()));
    let (kept, copied): (Vec<Copied>, Vec<Copied>) = std::mem::take(&mut report.copied)
        .into_iter()
        .partition(|c| c.variable.starts_with(norm.as_str()));
    report.copied = copied;
    report.kept.extend(kept.into_iter().map(|c| Kept {
        variable: c.variable,
        tensor: c.tensor,
        reason: format!(
            "the normalisation of {conv} (kept at its initialisation); the file's values \
             describe the outputs of {tensor}"
        ),
    }));
}

/// The torchvision name of a backbone variable (the inverse of [`torchvision_name`]), for
/// messages about missing tensors.
fn torchvision_source(variable: &str) -> String {
    let parts: Vec<&str> = variable.split('.').collect();
    let name = match parts.as_slice() {
        ["stem", "conv", leaf] => Some(format!("conv1.{leaf}")),
        ["stem", "bn", leaf] => Some(format!("bn1.{leaf}")),
        [unit, layer, kind, leaf] => unit
            .strip_prefix('s')
            .and_then(|u| u.split_once('b'))
            .and_then(|(stage, block)| {
                let unit = format!("layer{}.{block}", stage.parse::<usize>().ok()? + 1);
                let k = layer.trim_start_matches('c');
                Some(match (*layer, *kind) {
                    ("shortcut", "conv") => format!("{unit}.downsample.0.{leaf}"),
                    ("shortcut", _) => format!("{unit}.downsample.1.{leaf}"),
                    (_, "conv") => format!("{unit}.conv{k}.{leaf}"),
                    _ => format!("{unit}.bn{k}.{leaf}"),
                })
            }),
        _ => None,
    };
    name.unwrap_or_else(|| variable.to_owned())
}

/// What becomes of an input convolution whose shape differs from the file's.
enum InputConv {
    /// Computed from the file's kernel, and how.
    Adapted(Tensor, String),
    /// Left at its initialisation, and why.
    Kept(String),
    /// No rule applies (a shape error).
    Unfit,
}

/// timm's `adapt_input_conv` for a kernel `[O, 3, k, k]` onto `[O, C, k, k]`, or keeping
/// the initialisation when the kernel sizes differ (see the module documentation).
fn adapt_input_conv(value: &Tensor, shape: &[usize]) -> Result<InputConv> {
    let found = value.dims();
    let (&[o, i, kh, kw], &[out, channels, h, w]) = (found, shape) else {
        return Ok(InputConv::Unfit);
    };
    if o != out {
        return Ok(InputConv::Unfit);
    }
    if (kh, kw) != (h, w) {
        return Ok(InputConv::Kept(format!(
            "the file's {kh}×{kw} kernel (an ImageNet-style stem) does not fit this network's \
             {h}×{w} stem"
        )));
    }
    if i != 3 {
        return Ok(InputConv::Unfit);
    }
    let source = value.flatten_all()?.to_vec1::<f32>()?;
    let plane = kh * kw;
    let mut adapted = vec![0.0f32; out * channels * plane];
    let how = if channels == 1 {
        for (o_idx, dst) in adapted.chunks_exact_mut(plane).enumerate() {
            let rgb = &source[o_idx * 3 * plane..(o_idx + 1) * 3 * plane];
            for (p, d) in dst.iter_mut().enumerate() {
                *d = rgb[p] + rgb[plane + p] + rgb[2 * plane + p];
            }
        }
        "summed over the file's 3 input channels (timm's adapt_input_conv)".to_owned()
    } else {
        #[allow(clippy::cast_precision_loss)]
        let scale = 3.0 / channels as f32;
        for (row, dst) in adapted.chunks_exact_mut(plane).enumerate() {
            let (o_idx, c) = (row / channels, row % channels);
            let src = &source[(o_idx * 3 + c % 3) * plane..(o_idx * 3 + c % 3 + 1) * plane];
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s * scale;
            }
        }
        format!(
            "the file's 3 input channels repeated to {channels} and scaled by 3/{channels} \
             (timm's adapt_input_conv)"
        )
    };
    let tensor = Tensor::from_vec(adapted, shape, &Device::Cpu)?;
    Ok(InputConv::Adapted(tensor, how))
}

#[cfg(test)]
mod tests {
    use candle_nn::VarBuilder;

    use super::*;
    use crate::backbone::Network;

    /// Every variable of both ResNets has a torchvision name that maps back to it: 122
    /// and 320 entries in torchvision's `resnet18()` / `resnet50()` state dicts, less their
    /// classifier (2) and one `num_batches_tracked` per normalisation (20 and 53).
    #[test]
    fn torchvision_names_map_both_ways_on_every_resnet_variable() {
        for (backbone, variables) in [
            (Backbone::ResNet18, 122 - 2 - 20),
            (Backbone::ResNet50, 320 - 2 - 53),
        ] {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            Network::new(backbone, 1, vb).unwrap();
            let names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
            assert_eq!(names.len(), variables, "{backbone:?}");
            for name in names {
                let source = torchvision_source(&name);
                assert_ne!(source, name);
                assert_eq!(
                    torchvision_name(&source).as_deref(),
                    Some(name.as_str()),
                    "{source}"
                );
            }
        }
        for (torchvision, ours) in [
            ("conv1.weight", "stem.conv.weight"),
            ("bn1.running_var", "stem.bn.running_var"),
            ("layer4.1.bn2.running_var", "s3b1.c2.bn.running_var"),
            ("layer1.0.conv3.weight", "s0b0.c3.conv.weight"),
            ("layer3.0.downsample.0.weight", "s2b0.shortcut.conv.weight"),
            ("layer3.0.downsample.1.bias", "s2b0.shortcut.bn.bias"),
        ] {
            assert_eq!(torchvision_name(torchvision).as_deref(), Some(ours));
        }
        for other in [
            "fc.weight",
            "fc.bias",
            "conv1.bias",
            "bn1.num_batches_tracked",
            "layer1.0.bn1.num_batches_tracked",
            "layer5.0.conv1.weight",
            "layer1.0.conv4.weight",
            "layer1.0.downsample.2.weight",
            "layer1.x.conv1.weight",
            "encoder.stem.conv.weight",
        ] {
            assert_eq!(torchvision_name(other), None, "{other}");
        }
    }

    /// Which ignored tensors are a deeper network's: torchvision's stem and stages but the
    /// counters, tdal's `encoder.` tensors; the classifier, the counters and tensors after
    /// a tdal backbone are not.
    #[test]
    fn backbone_tensors_are_told_from_the_rest() {
        for name in [
            "conv1.bias",
            "bn1.extra",
            "layer1.2.conv1.weight",
            "layer3.5.bn2.running_var",
            "layer5.0.conv1.weight",
        ] {
            assert!(part_of_a_backbone(Naming::Torchvision, name), "{name}");
        }
        for name in [
            "fc.weight",
            "fc.bias",
            "bn1.num_batches_tracked",
            "layer1.2.bn1.num_batches_tracked",
            "encoder.s0b2.c1.conv.weight",
        ] {
            assert!(!part_of_a_backbone(Naming::Torchvision, name), "{name}");
        }
        assert!(part_of_a_backbone(Naming::Tdal, "encoder.l4.conv.weight"));
        for name in ["hidden.weight", "projection.l1.weight", "l4.conv.weight"] {
            assert!(!part_of_a_backbone(Naming::Tdal, name), "{name}");
        }
    }
}
