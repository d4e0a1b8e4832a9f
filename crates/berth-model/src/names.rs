//! Name rules ECS enforces for families, clusters and container names.

/// Up to 255 letters, numbers, hyphens and underscores: the rule for task definition
/// families, cluster names, container names and service names.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ecs_names_only() {
        assert!(is_valid_name("presto-coordinator_2"));
        assert!(is_valid_name(&"a".repeat(255)));
        for bad in [
            "",
            "has space",
            "slash/x",
            "colon:1",
            "ünicode",
            &"a".repeat(256),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
