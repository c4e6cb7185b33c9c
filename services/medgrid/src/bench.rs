//! `medgrid bench …`: throughput figures beside a raw PostgreSQL baseline from the same run.

use clap::Subcommand;
use medgrid_infra::config::Config;

#[derive(Subcommand, Clone, Copy)]
pub enum Bench {
    /// Command-to-event throughput at 1 and 16 writers vs raw INSERT transactions.
    Append,
    /// Projection rebuild speed over 1,000,000 events vs a raw ordered read.
    Replay,
}

pub async fn run(_bench: Bench, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
