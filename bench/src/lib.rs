//! forage benchmarks: programs that print figures and ratios measured in one run on the
//! machine they run on (see `src/bin/`). The library part holds what they share.

pub mod cpu;
pub mod io;
pub mod process;
pub mod report;

use std::path::PathBuf;

/// `<repository>/models/<file>`, where `scripts/fetch-model.sh` puts the default model.
pub fn repo_model_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(file)
}
