//! `dcos-containerizer`: the agent's native (Mesos-style) containerizer.
//! It turns a Docker-type image name into a running OCI container:
//!
//! ```text
//! image name ─ reference ─▶ store (cached?) ─no─▶ registry pull / import
//!            ─▶ layers ─ bundle (overlayfs rootfs + config.json) ─▶ runtime
//!            (libcontainer, in a supervisor process) ─▶ exit status ─▶ cleanup
//! ```
//!
//! Modules:
//! - [`reference`]: image references (`registry/repo:tag@digest`).
//! - [`image`]: manifests, manifest lists / OCI indexes, image configs.
//! - [`store`]: the content-addressed image store (blobs, unpacked
//!   layers, image records, per-digest locks, GC).
//! - [`registry`]: pulling from a Docker/OCI registry.
//! - [`import`]: `docker save` tarballs and OCI layouts.
//! - [`build`]: making small images (tests, benchmarks, air-gapped use).
//! - [`bundle`]: rootfs assembly and the OCI runtime spec.
//! - [`runtime`]: libcontainer, waiting, signals, cleanup.
//!
//! It knows nothing of Mesos messages: the agent's executor maps a
//! `TaskInfo` onto [`bundle::BundleRequest`] and errors onto task states.

pub mod build;
pub mod bundle;
pub mod image;
pub mod import;
pub mod reference;
pub mod registry;
pub mod runtime;
pub mod store;

/// Any containerizer error, for callers that report them as one message.
#[derive(Debug, thiserror::Error)]
pub enum ContainerizerError {
    /// See [`reference::ReferenceError`].
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    /// See [`store::StoreError`].
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// See [`registry::PullError`].
    #[error(transparent)]
    Pull(#[from] registry::PullError),
    /// See [`import::ImportError`].
    #[error(transparent)]
    Import(#[from] import::ImportError),
    /// See [`bundle::BundleError`].
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// See [`runtime::RuntimeError`].
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
}

/// The image `name` from `store`, pulled from its registry when it is not
/// there (or when `force_pull`).
pub async fn provide(
    store: &store::ImageStore,
    name: &str,
    force_pull: bool,
    credentials: Option<registry::Credentials>,
) -> Result<store::StoredImage, ContainerizerError> {
    let reference = reference::ImageRef::parse(name)?;
    if !force_pull {
        match store.image(&reference.to_string()) {
            Ok(image) => return Ok(image),
            Err(store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(registry::pull(store, &reference, credentials).await?)
}
