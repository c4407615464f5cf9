//! What the server needs of a project, as two small traits: [`Backend`] (the loop's side:
//! proposals, submissions, status; used on the worker thread only) and [`ImageSource`]
//! (image bytes by manifest index, from any thread). [`tdal_label::Project`] implements
//! them for real; the tests' fake implements them without models, so the router and the
//! worker are tested in milliseconds.

use std::sync::Arc;

use tdal_label::{ImageStore, Project, Proposal, Status};
use tdal_loop::Observer;

/// A labelling project as the worker thread drives it (never shared between threads:
/// [`Project`] holds the loop's models and is not `Send`).
pub trait Backend {
    /// Every class name, in label-map order (the "other" class first).
    fn class_names(&self) -> Vec<String>;

    /// The pool's images, for the request handlers.
    fn images(&self) -> Arc<dyn ImageSource>;

    /// The batch waiting for labels, computing it when needed (may take minutes);
    /// `None` when the budget is spent.
    ///
    /// # Errors
    /// The project's errors.
    fn proposal(&mut self, observer: &mut dyn Observer) -> tdal_label::Result<Option<Proposal>>;

    /// Saves labels of batch `batch`, all of it or part of it (durably, before
    /// returning); the number of labels new to the log.
    ///
    /// # Errors
    /// [`tdal_label::Error::Stale`] when `batch` is not the proposed batch,
    /// [`tdal_label::Error::Invalid`] for labels that do not fit it, I/O errors.
    fn submit(&mut self, batch: usize, labels: &[(usize, String)]) -> tdal_label::Result<usize>;

    /// Where the project stands.
    ///
    /// # Errors
    /// The project's errors.
    fn status(&self) -> tdal_label::Result<Status>;
}

/// Image files by manifest index.
pub trait ImageSource: Send + Sync {
    /// Images in the pool: valid indices are `0..len()`.
    fn len(&self) -> usize;

    /// The bytes of image `index` and their media type.
    ///
    /// # Errors
    /// An index outside the pool; I/O errors.
    fn read(&self, index: usize) -> tdal_label::Result<(Vec<u8>, &'static str)>;
}

impl ImageSource for ImageStore {
    fn len(&self) -> usize {
        ImageStore::len(self)
    }

    fn read(&self, index: usize) -> tdal_label::Result<(Vec<u8>, &'static str)> {
        ImageStore::read(self, index)
    }
}

impl Backend for Project {
    fn class_names(&self) -> Vec<String> {
        self.settings().label_names()
    }

    fn images(&self) -> Arc<dyn ImageSource> {
        Arc::new(Project::images(self))
    }

    fn proposal(&mut self, observer: &mut dyn Observer) -> tdal_label::Result<Option<Proposal>> {
        Project::proposal(self, observer)
    }

    fn submit(&mut self, batch: usize, labels: &[(usize, String)]) -> tdal_label::Result<usize> {
        Project::submit(self, batch, labels)
    }

    fn status(&self) -> tdal_label::Result<Status> {
        Project::status(self)
    }
}
