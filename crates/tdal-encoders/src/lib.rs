//! Representation models for tdal, in candle: the unsupervised VAE of Burgess et al. (2018)
//! ("US") and TD-SPLIT, the split-latent VAE whose first |z_c| coordinates are guided by a
//! classifier on the labels collected so far (docs/ARCHITECTURE.md places them in the
//! active-learning round; README.md lists their settings).
//!
//! Models follow candle's style ([`vae::Vae`], [`split::SplitVae`]: `new(cfg, vb)` and
//! `impl Module`); [`VaeModel`] and [`SplitModel`] own the variables, initialise them from a
//! seed ([`init`]: a per-variable policy, PyTorch's defaults), embed images in batches
//! ([`Embedder`]) and save/load safetensors checkpoints with the configuration beside them.
//! The device is chosen at run time ([`DeviceChoice`]; CUDA needs the `cuda` feature).
//!
//! Training is pluggable ([`trainable`]): a model that is [`Trainable`] — its variables and
//! a differentiable loss of a batch in train mode — is trained by the one loop
//! [`trainable::fit`] (epochs, shuffled batches, an optional progress callback), with a
//! step through candle's autograd and Adam by default. Layers that behave differently in
//! training and evaluation (the [`layers::BatchNorm`] building block) implement candle's
//! `ModuleT`. [`train`] trains the VAE and TD-SPLIT through that loop. For SimCLR-style
//! contrastive training the crate has SimCLR's loss, NT-Xent ([`contrastive_loss`]), and
//! its optimiser, LARS with a warm-up and cosine learning-rate schedule ([`lars`]).
//!
//! On the CPU the VAE's and TD-SPLIT's layers run as the fused custom ops of [`ops`]
//! (im2col/col2im convolutions on channels-last activations, fused bias + ReLU, summed
//! BCE), and their training step overrides the autograd one: it is differentiated by hand
//! through the fused ops without an autograd graph and updated by the one-pass [`Adam`];
//! embedding runs graph-free too: about 10× candle's out-of-the-box CPU speed
//! (docs/PERFORMANCE.md). Results do not depend on the thread count.
//!
//! ```
//! use ndarray::Array4;
//! use tdal_encoders::{DeviceChoice, Embedder, VaeConfig, VaeModel, train};
//!
//! // A tiny VAE on 8 random 28×28 images (padded to 32×32 inside).
//! let cfg = VaeConfig { conv_channels: 4, hidden_dim: 16, latent_dim: 2, ..VaeConfig::default() };
//! let mut model = VaeModel::new(&cfg, 7, DeviceChoice::Cpu)?;
//! let images = Array4::from_shape_fn((8, 1, 28, 28), |(n, _, h, w)| ((n + h + w) % 2) as f32);
//! let run = train::VaeTrainConfig { epochs: 2, batch_size: 4, ..Default::default() };
//! let report = train::train_vae(&mut model, images.view(), &run)?;
//! assert_eq!(report.steps, 4);
//! assert_eq!(model.embed(images.view())?.dim(), (8, 2));
//! # Ok::<(), tdal_encoders::Error>(())
//! ```

pub mod allocator;
pub mod backbone;
pub mod contrastive_loss;
mod device;
mod error;
pub mod init;
pub mod kernels;
pub mod lars;
pub mod layers;
pub mod model;
pub mod ops;
pub mod optim;
pub mod pretrained;
pub mod simclr;
pub mod split;
mod step;
pub mod supervised;
pub mod train;
pub mod trainable;
pub mod vae;

pub use backbone::Backbone;
pub use contrastive_loss::nt_xent;
pub use device::DeviceChoice;
pub use error::{Error, Result, WeightsProblem};
pub use init::{Init, InitPolicy, seeded_init, seeded_init_with};
pub use lars::{Lars, LarsConfig, WarmupCosine};
pub use layers::{BatchNorm, ConvBnRelu, batch_norm};
pub use model::{EMBED_BATCH, Embedder, SplitModel, VaeModel, prepare_images};
pub use optim::Adam;
pub use pretrained::{BackboneWeights, LoadReport, Naming};
pub use simclr::{
    FineTuneConfig, FineTuneModel, FineTuneTrainConfig, PretrainConfig, SimclrConfig, SimclrModel,
    fine_tune, pretrain,
};
pub use split::{GuidanceClassifier, SplitConfig, SplitVae};
pub use supervised::{
    SupervisedConfig, SupervisedModel, SupervisedReport, SupervisedTrainConfig, train_supervised,
};
pub use train::{
    Guided, LabelledSchedule, SplitBatch, SplitTrainConfig, StepStats, TrainReport, VaeBatch,
    VaeTrainConfig, negative_elbo, train_split, train_split_with_progress, train_vae,
    train_vae_with_progress,
};
pub use trainable::{
    Batches, EpochLog, FitConfig, Loss, Optimiser, Position, Trainable, autograd_step, fit,
    fit_until,
};
pub use vae::{Vae, VaeConfig, bce_with_logits};
