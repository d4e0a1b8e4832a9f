//! The host's GPUs, as the ECS agent finds them: the UUIDs `nvidia-smi` lists. A host
//! without `nvidia-smi` (or whose `nvidia-smi` fails) has none. Tasks that ask for GPUs
//! get the control plane's assigned UUIDs as a Docker device request for the `nvidia`
//! driver ([`crate::runtime::ContainerSpec::gpu_ids`]).

/// Runs `nvidia-smi --query-gpu=uuid --format=csv,noheader` and returns the UUIDs.
pub fn detect() -> Vec<String> {
    match std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=uuid", "--format=csv,noheader"])
        .output()
    {
        Ok(out) if out.status.success() => parse(&String::from_utf8_lossy(&out.stdout)),
        _ => vec![],
    }
}

/// The UUIDs in `nvidia-smi`'s CSV output, one per line.
pub fn parse(csv: &str) -> Vec<String> {
    csv.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("GPU-"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_one_per_line() {
        let out = "GPU-5c1e1f3a-0000-1111-2222-333344445555\n GPU-aa\n\nNo devices were found\n";
        assert_eq!(
            super::parse(out),
            vec!["GPU-5c1e1f3a-0000-1111-2222-333344445555", "GPU-aa"]
        );
    }
}
