//! Fargate task sizes: parsing CPU and memory as ECS accepts them ("256", "1 vCPU",
//! ".25 vcpu"; "512", "1 GB", "0.5GB") and the table of valid combinations.

/// Parses task-level CPU into CPU units: an integer, or vCPUs with a `vCPU` suffix
/// (case-insensitive, optional space). `None` when it is neither.
pub fn parse_cpu_units(s: &str) -> Option<u32> {
    parse_with_suffix(s, "vcpu", 1024.0)
}

/// Parses task-level memory into MiB: an integer, or gigabytes with a `GB` suffix.
pub fn parse_memory_mib(s: &str) -> Option<u32> {
    parse_with_suffix(s, "gb", 1024.0)
}

fn parse_with_suffix(s: &str, suffix: &str, scale: f64) -> Option<u32> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u32>() {
        return Some(n);
    }
    let lower = t.to_ascii_lowercase();
    let number = lower.strip_suffix(suffix)?.trim();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scaled = value * scale;
    if scaled <= 0.0 || scaled.fract() != 0.0 || scaled > u32::MAX as f64 {
        return None;
    }
    Some(scaled as u32)
}

/// The memory sizes (MiB) Fargate accepts for a CPU size, or `None` for an unknown CPU.
pub fn memory_options(cpu_units: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    Some(match cpu_units {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
}

/// Whether Fargate runs a task of this size.
pub fn is_valid_size(cpu_units: u32, memory_mib: u32) -> bool {
    memory_options(cpu_units).is_some_and(|m| m.contains(&memory_mib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_ecs_accepts() {
        assert_eq!(parse_cpu_units("256"), Some(256));
        assert_eq!(parse_cpu_units("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu_units("1vcpu"), Some(1024));
        assert_eq!(parse_cpu_units(".25 vCPU"), Some(256));
        assert_eq!(parse_cpu_units("0.5 vCPU"), Some(512));
        assert_eq!(parse_memory_mib("512"), Some(512));
        assert_eq!(parse_memory_mib("0.5 GB"), Some(512));
        assert_eq!(parse_memory_mib("2GB"), Some(2048));
        for bad in ["", "abc", "1 MB", "-1 vCPU", "0.1 vCPU", "1e3 vcpu", "vcpu"] {
            assert_eq!(
                parse_cpu_units(bad).or(parse_memory_mib(bad)),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn follows_the_fargate_table() {
        assert!(is_valid_size(256, 512));
        assert!(is_valid_size(256, 2048));
        assert!(!is_valid_size(256, 4096));
        assert!(is_valid_size(512, 4096));
        assert!(!is_valid_size(512, 512));
        assert!(is_valid_size(1024, 8192));
        assert!(!is_valid_size(1024, 1024));
        assert!(is_valid_size(2048, 16384));
        assert!(!is_valid_size(2048, 16385));
        assert!(is_valid_size(4096, 30720));
        assert!(!is_valid_size(4096, 31744));
        assert!(is_valid_size(8192, 16384) && is_valid_size(8192, 61440));
        assert!(!is_valid_size(8192, 17408));
        assert!(is_valid_size(16384, 122880) && !is_valid_size(16384, 36864));
        assert!(!is_valid_size(128, 512));
    }
}
