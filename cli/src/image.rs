//! `dcos image ...`: an agent's image store from the shell, for
//! air-gapped clusters: `import` a `docker save` tarball or an OCI layout
//! (no registry needed), `pull` from a registry, `list`, `remove`, `gc`.
//! It works on the store directory directly (run it on the agent's
//! machine, as the agent's user), through [`dcos_containerizer`].

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dcos_containerizer::store::ImageStore;

use crate::output;

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image store (default: the agent's, `<work dir>/images`).
    #[arg(long, global = true, env = "DCOS_IMAGE_STORE")]
    pub store: Option<PathBuf>,
    /// The agent's work dir, when `--store` is not given.
    #[arg(
        long,
        global = true,
        env = "DCOS_WORK_DIR",
        default_value = "/var/lib/dcos/agent"
    )]
    pub work_dir: PathBuf,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import a `docker save` tarball or an OCI image layout (directory or tar).
    Import {
        /// The tarball or layout directory.
        input: PathBuf,
        /// Name (or rename) the image, e.g. `registry.local/app:1`.
        #[arg(long)]
        name: Option<String>,
    },
    /// Pull an image from its registry into the store.
    Pull {
        /// `[registry/]repository[:tag|@digest]`.
        image: String,
    },
    /// List stored images.
    List,
    /// Remove an image (its layers go at the next `gc`).
    Remove {
        /// The image name.
        image: String,
    },
    /// Remove layers no image and no running container uses.
    Gc,
}

pub async fn run(args: ImageArgs) -> anyhow::Result<()> {
    let root = args
        .store
        .clone()
        .unwrap_or_else(|| args.work_dir.join("images"));
    let store = ImageStore::open(&root)?;
    match args.command {
        ImageCommand::Import { input, name } => {
            let images = tokio::task::spawn_blocking(move || {
                dcos_containerizer::import::import(&store, &input, name.as_deref())
            })
            .await??;
            if args.json {
                return output::json(&images);
            }
            for i in images {
                println!("imported {} ({})", i.name, i.config.digest);
            }
        }
        ImageCommand::Pull { image } => {
            let stored = dcos_containerizer::provide(&store, &image, true, None).await?;
            if args.json {
                return output::json(&stored);
            }
            println!("pulled {} ({})", stored.name, stored.config.digest);
        }
        ImageCommand::List => {
            let mut images = store.images();
            images.sort_by(|a, b| a.name.cmp(&b.name));
            if args.json {
                return output::json(&images);
            }
            output::table(
                &["NAME", "IMAGE ID", "LAYERS"],
                images
                    .iter()
                    .map(|i| {
                        vec![
                            i.name.clone(),
                            i.config.digest.hex()[..12].to_owned(),
                            i.layers.len().to_string(),
                        ]
                    })
                    .collect(),
            );
        }
        ImageCommand::Remove { image } => {
            let name = dcos_containerizer::reference::ImageRef::parse(&image)?.to_string();
            store.remove_image(&name)?;
            println!("removed {name}");
        }
        ImageCommand::Gc => {
            let removed = store.gc()?;
            if args.json {
                return output::json(&removed);
            }
            println!("removed {} unused layer(s)", removed.len());
        }
    }
    Ok(())
}
