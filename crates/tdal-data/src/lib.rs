//! Datasets and messy pools for tdal.
//!
//! This crate will hold the dataset readers (IDX, CIFAR, CheXpert, image folders, `.npy`),
//! the messy-pool builder (redundant classes, imbalance, target inputs, test set, initial
//! labels) and labelled-batch augmentation (issue: `tdal-data`). It is an empty placeholder
//! until then.
