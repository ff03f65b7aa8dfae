//! Placeholder until the generator lands.
pub struct GenerateConfig { pub seed: u64, pub hosts: usize, pub events: u64 }
#[derive(Debug, Default, Clone)]
pub struct GenerateStats { pub events: u64, pub bytes: u64, pub planted_true_positives: u64, pub planted_near_misses: u64 }
pub fn generate<W: std::io::Write>(_cfg: &GenerateConfig, _out: W) -> std::io::Result<GenerateStats> {
    Err(std::io::Error::other("generator not available"))
}
