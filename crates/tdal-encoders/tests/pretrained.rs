//! Initial backbone weights from safetensors files written here: torchvision's ResNet-18
//! state-dict names onto the CIFAR-style ResNet-18 of 1 and 3 channels (the ImageNet stem
//! and its normalisation kept, a 3 × 3 RGB stem copied or summed over RGB), tdal's own
//! names onto the small CNN (a saved model, a SimCLR checkpoint, f16/bf16/f64 files), and
//! the errors of files that cannot initialise the network (a deeper ResNet's included).
//! Every loaded variable is compared with the file's tensor (or its adaptation, computed
//! here) value by value.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use tdal_encoders::{
    Backbone, BackboneWeights, DeviceChoice, Embedder, Error, Naming, SimclrConfig, SimclrModel,
    SupervisedConfig, SupervisedModel, VaeConfig, VaeModel, WeightsProblem,
};

/// A tensor as a file holds it.
#[derive(Debug, Clone)]
struct FileTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl FileTensor {
    fn f32(name: &str, shape: &[usize], values: &[f32]) -> Self {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
        Self {
            name: name.to_owned(),
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// PyTorch's `num_batches_tracked`: an i64 scalar.
    fn batches_tracked(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            dtype: Dtype::I64,
            shape: Vec::new(),
            bytes: 1234_i64.to_le_bytes().to_vec(),
        }
    }

    fn values(&self) -> Vec<f32> {
        assert_eq!(self.dtype, Dtype::F32);
        self.bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

fn write(path: &Path, tensors: &[FileTensor]) {
    let views = tensors.iter().map(|t| {
        (
            t.name.clone(),
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap(),
        )
    });
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn random(rng: &mut ChaCha8Rng, n: usize, low: f32, high: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(low..high)).collect()
}

/// A batch normalisation's four tensors and PyTorch's counter under `prefix`, and the
/// tdal variable each initialises (`None`: none).
fn bn(rng: &mut ChaCha8Rng, prefix: &str, target: &str, width: usize) -> Vec<Entry> {
    let mut out: Vec<Entry> = ["weight", "bias", "running_mean"]
        .into_iter()
        .map(|leaf| {
            let values = random(rng, width, -1.0, 1.0);
            (
                FileTensor::f32(&format!("{prefix}.{leaf}"), &[width], &values),
                Some(format!("{target}.{leaf}")),
            )
        })
        .collect();
    let var = random(rng, width, 0.5, 1.5);
    out.push((
        FileTensor::f32(&format!("{prefix}.running_var"), &[width], &var),
        Some(format!("{target}.running_var")),
    ));
    out.push((
        FileTensor::batches_tracked(&format!("{prefix}.num_batches_tracked")),
        None,
    ));
    out
}

/// A file tensor and the model variable it should initialise.
type Entry = (FileTensor, Option<String>);

fn conv(rng: &mut ChaCha8Rng, name: &str, target: &str, shape: [usize; 4]) -> Entry {
    let values = random(rng, shape.iter().product(), -0.5, 0.5);
    (
        FileTensor::f32(name, &shape, &values),
        Some(target.to_owned()),
    )
}

/// torchvision's `resnet18().state_dict()` with random values: `conv1` of
/// `[64, 3, stem_kernel, stem_kernel]`, `fc` of 1000 classes, a `num_batches_tracked` per
/// normalisation; each with the tdal variable (under `encoder.`) it maps to, written out
/// here from torchvision's layout rather than through the loader's mapping.
fn torchvision_resnet18(stem_kernel: usize, seed: u64) -> Vec<Entry> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut entries = vec![conv(
        &mut rng,
        "conv1.weight",
        "encoder.stem.conv.weight",
        [64, 3, stem_kernel, stem_kernel],
    )];
    entries.extend(bn(&mut rng, "bn1", "encoder.stem.bn", 64));
    let mut cin = 64;
    for (layer, width) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        for block in 0..2 {
            let torch = format!("layer{layer}.{block}");
            let ours = format!("encoder.s{}b{block}", layer - 1);
            let first_in = if block == 0 { cin } else { width };
            entries.push(conv(
                &mut rng,
                &format!("{torch}.conv1.weight"),
                &format!("{ours}.c1.conv.weight"),
                [width, first_in, 3, 3],
            ));
            entries.extend(bn(
                &mut rng,
                &format!("{torch}.bn1"),
                &format!("{ours}.c1.bn"),
                width,
            ));
            entries.push(conv(
                &mut rng,
                &format!("{torch}.conv2.weight"),
                &format!("{ours}.c2.conv.weight"),
                [width, width, 3, 3],
            ));
            entries.extend(bn(
                &mut rng,
                &format!("{torch}.bn2"),
                &format!("{ours}.c2.bn"),
                width,
            ));
            if block == 0 && layer > 1 {
                entries.push(conv(
                    &mut rng,
                    &format!("{torch}.downsample.0.weight"),
                    &format!("{ours}.shortcut.conv.weight"),
                    [width, cin, 1, 1],
                ));
                entries.extend(bn(
                    &mut rng,
                    &format!("{torch}.downsample.1"),
                    &format!("{ours}.shortcut.bn"),
                    width,
                ));
            }
        }
        cin = width;
    }
    let fc_w = random(&mut rng, 1000 * 512, -0.1, 0.1);
    entries.push((FileTensor::f32("fc.weight", &[1000, 512], &fc_w), None));
    let fc_b = random(&mut rng, 1000, -0.1, 0.1);
    entries.push((FileTensor::f32("fc.bias", &[1000], &fc_b), None));
    entries
}

fn file_of(entries: &[Entry]) -> Vec<FileTensor> {
    entries.iter().map(|(t, _)| t.clone()).collect()
}

fn supervised(backbone: Backbone, channels: usize, seed: u64) -> SupervisedModel {
    let cfg = SupervisedConfig {
        backbone,
        channels,
        image_size: 8,
        hidden_dim: 6,
        classes: 3,
    };
    SupervisedModel::new(&cfg, seed, DeviceChoice::Cpu).unwrap()
}

/// Every variable of a model as flat f32 values.
fn variables(model: &SupervisedModel) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let vars = model.varmap().data().lock().unwrap();
    vars.iter()
        .map(|(name, var)| {
            let values = var
                .as_tensor()
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            (name.clone(), (var.dims().to_vec(), values))
        })
        .collect()
}

/// `[O, 3, k, k]` summed over its input channels, term by term.
fn summed_over_rgb(values: &[f32], out: usize, plane: usize) -> Vec<f32> {
    let mut summed = Vec::with_capacity(out * plane);
    for o in 0..out {
        for p in 0..plane {
            let at = |c: usize| values[(o * 3 + c) * plane + p];
            summed.push(at(0) + at(1) + at(2));
        }
    }
    summed
}

fn init_error(result: tdal_encoders::Result<impl std::fmt::Debug>) -> WeightsProblem {
    match result {
        Err(Error::InitWeights { problem, .. }) => *problem,
        other => panic!("expected an initial-weights error, got {other:?}"),
    }
}

#[test]
fn torchvision_resnet18_weights_initialise_every_backbone_variable_of_one_and_three_channels() {
    let tmp = tempfile::tempdir().unwrap();
    for kernel in [7, 3] {
        let entries = torchvision_resnet18(kernel, kernel as u64);
        let path = tmp.path().join(format!("resnet18-{kernel}.safetensors"));
        write(&path, &file_of(&entries));
        let expected: HashMap<&str, &FileTensor> = entries
            .iter()
            .filter_map(|(t, target)| Some((target.as_deref()?, t)))
            .collect();
        for channels in [1, 3] {
            let mut model = supervised(Backbone::ResNet18, channels, 5);
            let before = variables(&model);
            let report = model.load_backbone(&path).unwrap();
            let after = variables(&model);
            assert_eq!(report.naming, Naming::Torchvision);
            // fc and the 20 normalisations' counters initialise nothing.
            let mut ignored: Vec<&str> = entries
                .iter()
                .filter(|(_, target)| target.is_none())
                .map(|(t, _)| t.name.as_str())
                .collect();
            ignored.sort_unstable();
            assert_eq!(ignored.len(), 22);
            assert_eq!(report.ignored, ignored);

            let stem = "encoder.stem.conv.weight";
            for (name, (shape, values)) in &after {
                if !name.starts_with("encoder.") {
                    // The fully connected and output layers keep their seeded values.
                    assert_eq!(&before[name].1, values, "{name}");
                    continue;
                }
                let file = expected[name.as_str()];
                if kernel == 7 && name.starts_with("encoder.stem.") {
                    // ImageNet's 7×7 stem does not fit: the seeded kernel stays, and the
                    // seeded normalisation with it.
                    assert_eq!(&before[name].1, values, "{name}");
                    assert_ne!(&file.values(), values, "{name}");
                    continue;
                }
                match (name.as_str() == stem, kernel, channels) {
                    (true, 3, 1) => {
                        let plane = 9;
                        assert_eq!(shape, &[64, 1, 3, 3]);
                        let summed = summed_over_rgb(&file.values(), 64, plane);
                        assert_eq!(values.len(), summed.len());
                        for (got, want) in values.iter().zip(&summed) {
                            assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
                        }
                    }
                    _ => {
                        assert_eq!(shape, &file.shape, "{name}");
                        assert_eq!(values, &file.values(), "{name}");
                    }
                }
            }
            let encoder_vars = after.keys().filter(|n| n.starts_with("encoder.")).count();
            match (kernel, channels) {
                (7, _) => {
                    assert_eq!(report.kept.len(), 5, "{report}");
                    assert_eq!(report.kept[0].variable, stem);
                    assert_eq!(report.kept[0].tensor, "conv1.weight");
                    assert!(report.kept[0].reason.contains("7×7"), "{report}");
                    // The stem's normalisation is kept with it, after it, in name order.
                    let norm: Vec<(&str, &str)> = report.kept[1..]
                        .iter()
                        .map(|k| (k.variable.as_str(), k.tensor.as_str()))
                        .collect();
                    assert_eq!(
                        norm,
                        [
                            ("encoder.stem.bn.bias", "bn1.bias"),
                            ("encoder.stem.bn.running_mean", "bn1.running_mean"),
                            ("encoder.stem.bn.running_var", "bn1.running_var"),
                            ("encoder.stem.bn.weight", "bn1.weight"),
                        ]
                    );
                    assert!(
                        report.kept[1..].iter().all(|k| k.reason.contains(stem)),
                        "{report}"
                    );
                    assert_eq!(report.copied.len(), encoder_vars - 5);
                    assert!(
                        report
                            .copied
                            .iter()
                            .all(|c| !c.variable.starts_with("encoder.stem."))
                    );
                    assert!(report.adapted.is_empty());
                    // The line names the four together.
                    assert!(
                        report.to_string().contains(
                            "encoder.stem.bn.running_var, encoder.stem.bn.weight kept at their \
                             initialisation"
                        ),
                        "{report}"
                    );
                }
                (3, 1) => {
                    assert_eq!(report.adapted.len(), 1, "{report}");
                    assert_eq!(report.adapted[0].variable, stem);
                    assert!(report.adapted[0].how.contains("summed"), "{report}");
                    assert_eq!(report.copied.len(), encoder_vars - 1);
                }
                _ => {
                    assert!(report.adapted.is_empty() && report.kept.is_empty());
                    assert_eq!(report.copied.len(), encoder_vars);
                }
            }
            // The report names the file and what happened.
            let line = report.to_string();
            assert!(line.contains("torchvision") && line.contains("22 file tensors ignored"));
        }
    }
}

#[test]
fn a_saved_small_cnn_initialises_a_differently_seeded_one_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let source = supervised(Backbone::SmallCnn, 1, 1);
    source.save(tmp.path()).unwrap();
    let file = tmp.path().join("model.safetensors");

    // The expected network, built without the loader: seed 2's layers with the source's
    // backbone copied variable by variable.
    let expected = supervised(Backbone::SmallCnn, 1, 2);
    {
        let from = source.varmap().data().lock().unwrap();
        let to = expected.varmap().data().lock().unwrap();
        for (name, var) in to.iter().filter(|(n, _)| n.starts_with("encoder.")) {
            var.set(from[name].as_tensor()).unwrap();
        }
    }
    let mut loaded = supervised(Backbone::SmallCnn, 1, 2);
    let fresh = supervised(Backbone::SmallCnn, 1, 2);
    let report = loaded.load_backbone(&file).unwrap();
    assert_eq!(report.naming, Naming::Tdal);
    assert_eq!(
        report.copied.len(),
        20,
        "4 layers × (conv + 4 normalisation variables)"
    );
    assert!(report.copied.iter().all(|c| c.tensor == c.variable));
    assert_eq!(
        report.ignored,
        [
            "hidden.bias",
            "hidden.weight",
            "output.bias",
            "output.weight"
        ]
    );

    let images = Array4::from_shape_fn((5, 1, 8, 8), |(n, _, h, w)| {
        ((n * 13 + h * 5 + w * 3) % 11) as f32 / 10.0
    });
    let embedding = loaded.embed(images.view()).unwrap();
    assert_eq!(embedding, expected.embed(images.view()).unwrap());
    assert_ne!(embedding, fresh.embed(images.view()).unwrap());
    assert_eq!(variables(&loaded), variables(&expected));

    // The same tensors without the `encoder.` prefix load the same.
    let bare: Vec<FileTensor> = variables(&source)
        .into_iter()
        .filter_map(|(name, (shape, values))| {
            let rest = name.strip_prefix("encoder.")?;
            Some(FileTensor::f32(rest, &shape, &values))
        })
        .collect();
    let bare_path = tmp.path().join("bare.safetensors");
    write(&bare_path, &bare);
    let mut again = supervised(Backbone::SmallCnn, 1, 2);
    let report = again.load_backbone(&bare_path).unwrap();
    assert!(report.ignored.is_empty() && report.copied.len() == 20);
    assert_eq!(variables(&again), variables(&expected));
}

#[test]
fn a_simclr_checkpoint_starts_the_supervised_backbone() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SimclrConfig {
        image_size: 8,
        ..SimclrConfig::default()
    };
    let simclr = SimclrModel::new(&cfg, 4, DeviceChoice::Cpu).unwrap();
    simclr.save(tmp.path()).unwrap();
    let mut model = supervised(Backbone::SmallCnn, 1, 9);
    let report = model
        .load_backbone(&tmp.path().join("model.safetensors"))
        .unwrap();
    assert_eq!(report.copied.len(), 20);
    assert!(report.ignored.iter().all(|n| n.starts_with("projection.")));
    let theirs = simclr.varmap().data().lock().unwrap();
    for (name, (_, values)) in variables(&model)
        .into_iter()
        .filter(|(n, _)| n.starts_with("encoder."))
    {
        let want = theirs[&name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(values, want, "{name}");
    }
}

/// The small CNN's backbone tensors of `model` under tdal's names, as candle tensors.
fn candle_backbone(model: &SupervisedModel) -> HashMap<String, Tensor> {
    variables(model)
        .into_iter()
        .filter(|(n, _)| n.starts_with("encoder."))
        .map(|(name, (shape, values))| {
            (name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
        })
        .collect()
}

#[test]
fn half_bfloat_and_double_files_are_converted_to_f32() {
    let tmp = tempfile::tempdir().unwrap();
    // Values k / 256 with |k| ≤ 256 are exact in f16, bf16 and f64.
    let mut exact = candle_backbone(&supervised(Backbone::SmallCnn, 1, 3));
    for tensor in exact.values_mut() {
        let n = tensor.elem_count();
        let values: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 513) as f32 - 256.0) / 256.0)
            .collect();
        *tensor = Tensor::from_vec(values, tensor.dims(), &Device::Cpu).unwrap();
    }
    for dtype in [DType::F16, DType::BF16, DType::F64] {
        let converted: HashMap<String, Tensor> = exact
            .iter()
            .map(|(k, t)| (k.clone(), t.to_dtype(dtype).unwrap()))
            .collect();
        let path = tmp.path().join(format!("{dtype:?}.safetensors"));
        candle_core::safetensors::save(&converted, &path).unwrap();
        let mut model = supervised(Backbone::SmallCnn, 1, 8);
        model.load_backbone(&path).unwrap();
        let got = variables(&model);
        for (name, tensor) in &exact {
            let want = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(got[name].1, want, "{dtype:?} {name}");
        }
    }
}

#[test]
fn an_rgb_input_layer_is_adapted_to_other_channel_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let rgb = supervised(Backbone::SmallCnn, 3, 6);
    rgb.save(tmp.path()).unwrap();
    let file = tmp.path().join("model.safetensors");
    let source = variables(&rgb);
    let (_, kernel) = &source["encoder.l0.conv.weight"];
    for channels in [1, 2, 5] {
        let mut model = supervised(Backbone::SmallCnn, channels, 7);
        let report = model.load_backbone(&file).unwrap();
        assert_eq!(report.adapted.len(), 1, "{report}");
        let (shape, got) = variables(&model)["encoder.l0.conv.weight"].clone();
        assert_eq!(shape, [32, channels, 3, 3]);
        // timm's adapt_input_conv: summed over RGB for one channel; otherwise channel c
        // is RGB channel c mod 3, scaled by 3 / C.
        let want: Vec<f32> = if channels == 1 {
            summed_over_rgb(kernel, 32, 9)
        } else {
            let mut want = Vec::new();
            for o in 0..32 {
                for c in 0..channels {
                    for p in 0..9 {
                        want.push(kernel[(o * 3 + c % 3) * 9 + p] * 3.0 / channels as f32);
                    }
                }
            }
            want
        };
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6, "{channels} channels: {g} vs {w}");
        }
        // Everything after the input layer is copied as it is.
        assert_eq!(
            variables(&model)["encoder.l1.conv.weight"].1,
            source["encoder.l1.conv.weight"].1
        );
    }
}

#[test]
fn files_that_cannot_initialise_the_network_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut model = supervised(Backbone::SmallCnn, 1, 0);
    let tdal_file = |skip: &str, replace: Option<FileTensor>| -> Vec<FileTensor> {
        variables(&supervised(Backbone::SmallCnn, 1, 1))
            .into_iter()
            .filter(|(n, _)| n != skip)
            .map(|(name, (shape, values))| FileTensor::f32(&name, &shape, &values))
            .chain(replace)
            .collect()
    };
    let path = tmp.path().join("w.safetensors");

    // A missing backbone tensor is named.
    write(&path, &tdal_file("encoder.l2.bn.running_var", None));
    let problem = init_error(model.load_backbone(&path));
    let WeightsProblem::Missing { count, names, .. } = &problem else {
        panic!("{problem:?}")
    };
    assert_eq!((*count, names.as_str()), (1, "encoder.l2.bn.running_var"));
    // In a file without the `encoder.` prefix, it is named without it.
    let bare: Vec<FileTensor> = tdal_file("encoder.l2.bn.running_var", None)
        .into_iter()
        .filter_map(|t| {
            let name = t.name.strip_prefix("encoder.")?.to_owned();
            Some(FileTensor { name, ..t })
        })
        .collect();
    write(&path, &bare);
    assert_eq!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::Missing {
            backbone: Backbone::SmallCnn,
            naming: Naming::Tdal,
            count: 1,
            names: "l2.bn.running_var".into(),
        }
    );

    // A backbone tensor this network does not have (a deeper network's fifth layer) is
    // not ignored: the file's network would load truncated.
    let deeper = FileTensor::f32(
        "encoder.l4.conv.weight",
        &[256, 256, 3, 3],
        &vec![0.0; 589_824],
    );
    write(&path, &tdal_file("", Some(deeper)));
    let problem = init_error(model.load_backbone(&path));
    assert_eq!(
        problem,
        WeightsProblem::Unexpected {
            backbone: Backbone::SmallCnn,
            naming: Naming::Tdal,
            count: 1,
            names: "encoder.l4.conv.weight".into(),
        }
    );
    let message = problem.to_string();
    assert!(
        message.contains("1 backbone tensors") && message.contains("deeper network"),
        "{message}"
    );

    // A wrong shape names the tensor, the expected and the found shape.
    let wide = FileTensor::f32(
        "encoder.l1.conv.weight",
        &[64, 32, 5, 5],
        &vec![0.0; 51_200],
    );
    write(&path, &tdal_file("encoder.l1.conv.weight", Some(wide)));
    assert_eq!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::Shape {
            tensor: "encoder.l1.conv.weight".into(),
            variable: "encoder.l1.conv.weight".into(),
            expected: vec![64, 32, 3, 3],
            found: vec![64, 32, 5, 5],
        }
    );
    // An input layer of 2 channels has no adaptation onto 1.
    let two = FileTensor::f32("encoder.l0.conv.weight", &[32, 2, 3, 3], &vec![0.0; 576]);
    write(&path, &tdal_file("encoder.l0.conv.weight", Some(two)));
    assert!(matches!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::Shape { found, .. } if found == [32, 2, 3, 3]
    ));

    // Integer values.
    let ints = FileTensor {
        name: "encoder.l3.bn.weight".into(),
        dtype: Dtype::I32,
        shape: vec![256],
        bytes: vec![0; 1024],
    };
    write(&path, &tdal_file("encoder.l3.bn.weight", Some(ints)));
    assert_eq!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::Dtype {
            tensor: "encoder.l3.bn.weight".into(),
            dtype: "I32".into()
        }
    );

    // Not safetensors: noise, and a good file cut short.
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!").unwrap();
    assert!(matches!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::NotSafetensors(_)
    ));
    write(&path, &tdal_file("", None));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::NotSafetensors(_)
    ));
    // No file.
    assert!(matches!(
        init_error(model.load_backbone(&tmp.path().join("absent.safetensors"))),
        WeightsProblem::Unreadable(_)
    ));

    // A file of another model (a VAE's checkpoint) names none of the variables.
    let vae = VaeModel::new(&VaeConfig::default(), 0, DeviceChoice::Cpu).unwrap();
    let vae_dir = tmp.path().join("vae");
    vae.save(&vae_dir).unwrap();
    let problem = init_error(model.load_backbone(&vae_dir.join("model.safetensors")));
    let message = problem.to_string();
    assert!(
        matches!(problem, WeightsProblem::NoMatch { .. }) && message.contains("l0.conv.weight"),
        "{message}"
    );

    // torchvision names with one tensor missing name it as torchvision does.
    let mut entries = torchvision_resnet18(7, 0);
    entries.retain(|(t, _)| t.name != "layer3.1.bn2.running_var");
    write(&path, &file_of(&entries));
    let mut resnet = supervised(Backbone::ResNet18, 1, 0);
    assert_eq!(
        init_error(resnet.load_backbone(&path)),
        WeightsProblem::Missing {
            backbone: Backbone::ResNet18,
            naming: Naming::Torchvision,
            count: 1,
            names: "layer3.1.bn2.running_var".into(),
        }
    );

    // Weights resolved for one network do not go into another.
    write(&path, &tdal_file("", None));
    let weights = BackboneWeights::read(&path, &model).unwrap();
    let mut wider = supervised(Backbone::SmallCnn, 3, 0);
    assert!(matches!(wider.set_backbone(&weights), Err(Error::Shape(_))));
    // The message of the error says which file.
    let err = model
        .load_backbone(&tmp.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
}

/// torchvision's `resnet18().state_dict()` with one more block in the first stage, as a
/// ResNet-34 has (`layer1.2`): every ResNet-18 variable finds its tensor of its shape.
fn resnet18_with_a_third_block(seed: u64) -> Vec<Entry> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    let mut entries = torchvision_resnet18(7, seed);
    for k in [1, 2] {
        entries.push(conv(
            &mut rng,
            &format!("layer1.2.conv{k}.weight"),
            &format!("encoder.s0b2.c{k}.conv.weight"),
            [64, 64, 3, 3],
        ));
        entries.extend(bn(
            &mut rng,
            &format!("layer1.2.bn{k}"),
            &format!("encoder.s0b2.c{k}.bn"),
            64,
        ));
    }
    entries
}

#[test]
fn a_deeper_resnets_file_is_an_error_not_a_truncated_network() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("deeper.safetensors");
    let mut model = supervised(Backbone::ResNet18, 1, 0);
    let before = variables(&model);

    // The extra block's 2 convolutions and 8 normalisation tensors (not its counters).
    write(&path, &file_of(&resnet18_with_a_third_block(1)));
    let problem = init_error(model.load_backbone(&path));
    assert_eq!(
        problem,
        WeightsProblem::Unexpected {
            backbone: Backbone::ResNet18,
            naming: Naming::Torchvision,
            count: 10,
            names: "layer1.2.bn1.bias, layer1.2.bn1.running_mean, layer1.2.bn1.running_var, \
                    layer1.2.bn1.weight and 6 more"
                .into(),
        }
    );
    let message = problem.to_string();
    assert!(
        message.contains("10 backbone tensors the resnet18 backbone does not have")
            && message.contains("torchvision names")
            && message.contains("ResNet-34"),
        "{message}"
    );
    // Nothing was copied.
    assert_eq!(variables(&model), before);

    // A stem convolution's bias, which this network's stem has not, is not ignored either;
    // `fc.*` and the counters still are (the ResNet-18 file alone loads).
    let mut entries = torchvision_resnet18(7, 2);
    entries.push((FileTensor::f32("conv1.bias", &[64], &[0.5_f32; 64]), None));
    write(&path, &file_of(&entries));
    assert_eq!(
        init_error(model.load_backbone(&path)),
        WeightsProblem::Unexpected {
            backbone: Backbone::ResNet18,
            naming: Naming::Torchvision,
            count: 1,
            names: "conv1.bias".into(),
        }
    );
    entries.retain(|(t, _)| t.name != "conv1.bias");
    write(&path, &file_of(&entries));
    let report = model.load_backbone(&path).unwrap();
    assert_eq!(report.ignored.len(), 22, "{report}");
}
